// `react-dom` for extension modules (portals, flushSync, resource hints).
import ReactDOM from "react-dom";

export default ReactDOM;
export const {
  createPortal,
  flushSync,
  preconnect,
  prefetchDNS,
  preinit,
  preinitModule,
  preload,
  preloadModule,
  requestFormReset,
  unstable_batchedUpdates,
  useFormState,
  useFormStatus,
  version,
} = ReactDOM;
