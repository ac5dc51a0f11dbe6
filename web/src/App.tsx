import { useCallback, useEffect, useState } from "react";
import { ApiError, getSymphonyInfo, getUserInfo, type SymphonyInfo, type UserInfo } from "./api";
import { Login } from "./Login";
import { Shell } from "./Shell";
import { useTheme } from "./theme";

type Session = { state: "loading" } | { state: "signed-out"; reason?: string } | { state: "signed-in"; user: UserInfo };

export function App() {
  const [theme, toggleTheme] = useTheme();
  const [info, setInfo] = useState<SymphonyInfo | null>(null);
  const [session, setSession] = useState<Session>({ state: "loading" });

  useEffect(() => {
    getSymphonyInfo().then(setInfo, () => setInfo(null));
  }, []);

  const refreshUser = useCallback(async () => {
    try {
      setSession({ state: "signed-in", user: await getUserInfo() });
    } catch (e) {
      const reason = e instanceof ApiError && e.status === 401 ? undefined : (e as Error).message;
      setSession({ state: "signed-out", reason });
    }
  }, []);

  useEffect(() => {
    void refreshUser();
  }, [refreshUser]);

  const sessionEnded = useCallback(() => {
    setSession({ state: "signed-out", reason: "Your session has ended. Please sign in again." });
  }, []);

  if (session.state === "loading") {
    return <div className="splash">Loading…</div>;
  }
  if (session.state === "signed-out") {
    return (
      <Login info={info} notice={session.reason} theme={theme} onToggleTheme={toggleTheme} onSignedIn={refreshUser} />
    );
  }
  return (
    <Shell
      info={info}
      user={session.user}
      theme={theme}
      onToggleTheme={toggleTheme}
      onSignedOut={() => setSession({ state: "signed-out" })}
      onSessionEnded={sessionEnded}
    />
  );
}
