import { useState, type FormEvent } from "react";
import { login, type SymphonyInfo } from "./api";
import type { Theme } from "./theme";
import { ThemeToggle } from "./ThemeToggle";

interface Props {
  info: SymphonyInfo | null;
  notice?: string;
  theme: Theme;
  onToggleTheme: () => void;
  onSignedIn: () => Promise<void> | void;
}

export function Login({ info, notice, theme, onToggleTheme, onSignedIn }: Props) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const name = info?.name ?? "Symphony";

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(username, password);
      await onSignedIn();
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };

  return (
    <div className="login-page">
      <div className="login-theme">
        <ThemeToggle theme={theme} onToggle={onToggleTheme} />
      </div>
      <form className="card login-card" onSubmit={submit} aria-label="Sign in">
        <h1>
          <i className="fa-solid fa-music" /> {name}
        </h1>
        <p className="muted">Sign in to continue</p>
        {notice && !error && <p className="notice">{notice}</p>}
        <label>
          Username
          <input
            name="username"
            autoComplete="username"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            required
            autoFocus
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        {error && (
          <p className="form-error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}
