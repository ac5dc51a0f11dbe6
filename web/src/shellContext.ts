// What every page and renderer of the shell may read: the instance, the signed-in user, the colour mode.
import { createContext, useContext } from "react";
import type { SymphonyInfo, UserInfo } from "./api";
import type { Theme } from "./theme";

export interface ShellContextValue {
  info: SymphonyInfo | null;
  user: UserInfo;
  theme: Theme;
}

export const ShellContext = createContext<ShellContextValue>({ info: null, user: { kind: "anonymous" }, theme: "light" });

export const useShell = (): ShellContextValue => useContext(ShellContext);
