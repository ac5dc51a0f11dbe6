// The rendering half of a JSX page's frame runtime (symphony-frame.ts loads it side by side with the page and the
// NATS connection): the page inside `SymphonyContext`, an error boundary, the notice when NATS is unavailable.
import { Component, useEffect, useMemo, useState, type ComponentType, type ReactNode } from "react";
import { createRoot } from "react-dom/client";
import type { NatsConnection } from "@nats-io/nats-core";
import { SymphonyContext, titleMeta, type SymphonyContextValue, type TitleSpec } from "../symphony/context";
import type { JsxBoot } from "../renderers/frames";
import type { Theme } from "../theme";

/** What the shell changes while the page shows. */
export interface FrameProps {
  theme: Theme;
  path: string;
}

/** Why the page could not be loaded, as the shell shows it. */
export interface ModuleFailure {
  code: string;
  message: string;
  hint?: string;
  location?: { file: string; line: number; column: number };
}

/** The runtime's side: boot data, posting to the shell, the props it changes, NATS's state. */
export interface FrameEnv {
  boot: JsxBoot;
  post: (message: Record<string, unknown>) => void;
  props: () => FrameProps;
  onProps: (listener: (p: FrameProps) => void) => () => void;
  natsError: () => string | null;
}

class Boundary extends Component<{ uri: string; children: ReactNode }, { error: Error | null }> {
  state = { error: null as Error | null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  render() {
    if (!this.state.error) return this.props.children;
    return (
      <div className="card card-error" role="alert" data-testid="page-error">
        <h3>
          <i className="fa-solid fa-triangle-exclamation" /> {this.props.uri} failed
        </h3>
        <pre className="error-text">{this.state.error.message}</pre>
      </div>
    );
  }
}

function Host({ Page, nc, env }: { Page: ComponentType; nc: NatsConnection | undefined; env: FrameEnv }) {
  const { boot, post } = env;
  const [current, setCurrent] = useState(env.props);
  useEffect(() => env.onProps(setCurrent), [env]);
  const value = useMemo<SymphonyContextValue>(
    () => ({
      nc,
      kv: async (bucket: string) => {
        if (!nc) throw new Error(env.natsError() ?? "no NATS connection");
        const { Kvm } = await import("@nats-io/kv");
        return new Kvm(nc).open(bucket);
      },
      setTitle: (spec: TitleSpec) => {
        if (!boot.widget) post({ type: "setTitle", title: titleMeta(spec) });
      },
      navigate: (to: string) => post({ type: "navigate", path: String(to) }),
      theme: current.theme,
      user: boot.user,
      info: boot.info,
      extension: boot.extension,
      path: current.path,
    }),
    [nc, current, env, boot, post],
  );
  return (
    <SymphonyContext.Provider value={value}>
      {!nc && (
        <p className="notice" data-testid="nats-unavailable">
          Live data is unavailable: {env.natsError() ?? "no NATS connection"}.
        </p>
      )}
      <Boundary uri={boot.uri}>
        <Page />
      </Boundary>
    </SymphonyContext.Provider>
  );
}

/** Renders the page into `root`. */
export function render(root: HTMLElement, Page: ComponentType, nc: NatsConnection | undefined, env: FrameEnv): void {
  createRoot(root).render(<Host Page={Page} nc={nc} env={env} />);
}
