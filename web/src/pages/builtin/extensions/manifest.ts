// What the Extensions pages read out of an extension's manifest and status: counts, the SDK line, the route
// tree flattened, and the REST operations of a service's OpenAPI document (docs/protocol.md §5.2, §7.1).
import type { ExtensionView, ManifestRoute, SdkInfo, ServiceSpec } from "../../../api";
import { joinPath, normalize } from "../../../router";
import { GATEWAY } from "./paths";

const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** Instances that have not disconnected. */
export function runningCount(ext: ExtensionView): number {
  return ext.instances.filter((i) => i.state !== "disconnected").length;
}

export function endpointCount(ext: ExtensionView): number {
  return (ext.manifest.endpoints ?? []).reduce((n, s) => n + (s.endpoints?.length ?? 0), 0);
}

/** `name version`, or a dash when the SDK did not say. */
export function sdkLabel(sdk: SdkInfo | undefined): string {
  return sdk?.name ? `${sdk.name} ${sdk.version}` : "—";
}

export interface FlatRoute {
  path: string;
  uri: string;
}

export function flattenRoutes(routes: ManifestRoute[] | undefined, parent = ""): FlatRoute[] {
  return (routes ?? []).flatMap((r) => {
    const path = parent ? joinPath(parent, r.path) : normalize(r.path);
    return [{ path, uri: r.uri }, ...flattenRoutes(r.routes, path)];
  });
}

export interface OpenApiOperation {
  method: string;
  path: string;
  endpoint: string;
  summary: string;
}

/** The REST operations a service's `metadata.openapi` document declares (§7.1), or the parse error. */
export function openApiOperations(prefix: string, service: ServiceSpec): { ops: OpenApiOperation[]; error?: string } | null {
  const text = service.metadata?.openapi;
  if (!text) return null;
  try {
    const doc = JSON.parse(text) as { paths?: Record<string, Record<string, unknown>> };
    const ops: OpenApiOperation[] = [];
    for (const [template, item] of Object.entries(doc.paths ?? {})) {
      for (const [method, raw] of Object.entries(item ?? {})) {
        if (!HTTP_METHODS.includes(method) || !raw || typeof raw !== "object") continue;
        const op = raw as Record<string, unknown>;
        const endpoint = String(op["x-symphony-endpoint"] ?? op.operationId ?? "");
        const summary = String(op.summary ?? op.description ?? "");
        ops.push({ method: method.toUpperCase(), path: `${GATEWAY}/${prefix}${template}`, endpoint, summary });
      }
    }
    return { ops };
  } catch (e) {
    return { ops: [], error: (e as Error).message };
  }
}
