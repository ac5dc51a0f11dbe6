import { Suspense, useCallback, useEffect, useMemo, useState, type MouseEvent } from "react";
import { logout, type SymphonyInfo, type UserInfo } from "./api";
import { ErrorBoundary } from "./ErrorBoundary";
import { iconClass, menuGroups, routeTable, useExtensions } from "./extensions";
import { Dashboard } from "./pages/Dashboard";
import { ExtensionPage } from "./pages/ExtensionPage";
import { builtinPages } from "./pages/builtin";
import { HelpIndex } from "./pages/HelpIndex";
import { navigate, normalize, usePath } from "./router";
import { ShellContext } from "./shellContext";
import { closeConnection } from "./symphony/connection";
import type { Theme } from "./theme";
import { ThemeToggle } from "./ThemeToggle";

export interface PageMeta {
  title: string;
  breadcrumbs?: Record<string, string>;
}

interface Props {
  info: SymphonyInfo | null;
  user: UserInfo;
  theme: Theme;
  onToggleTheme: () => void;
  onSignedOut: () => void;
  onSessionEnded: () => void;
}

function NavLink({ to, icon, label, active, testId }: { to: string; icon: string; label: string; active: boolean; testId?: string }) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} className={active ? "nav-link active" : "nav-link"} onClick={onClick} data-testid={testId} aria-current={active ? "page" : undefined}>
      <i className={`${iconClass(icon)} fa-fw`} aria-hidden="true" />
      <span>{label}</span>
    </a>
  );
}

export function Shell({ info, user, theme, onToggleTheme, onSignedOut, onSessionEnded }: Props) {
  const path = normalize(usePath());
  const { extensions, loaded, error } = useExtensions(onSessionEnded);
  const routes = useMemo(() => routeTable(extensions), [extensions]);
  const groups = useMemo(() => menuGroups(extensions), [extensions]);
  const [navOpen, setNavOpen] = useState(false);
  const [meta, setMeta] = useState<PageMeta>({ title: "" });
  const appName = info?.name ?? "Symphony";

  const setPageMeta = useCallback((m: PageMeta) => setMeta(m), []);

  useEffect(() => setNavOpen(false), [path]);
  useEffect(() => {
    document.title = meta.title ? `${meta.title} · ${appName}` : appName;
  }, [meta.title, appName]);

  const shellValue = useMemo(() => ({ info, user, theme }), [info, user, theme]);
  const platformPages = useMemo(() => builtinPages.filter((p) => !p.adminOnly || user.admin), [user.admin]);
  const builtin = platformPages.find((p) => path === p.path || path.startsWith(`${p.path}/`));

  // The NATS connection belongs to the signed-in session.
  useEffect(() => () => void closeConnection(), []);

  const signOut = async () => {
    await closeConnection();
    try {
      await logout();
    } catch (e) {
      // The session may already be gone; the sign-in page is right either way.
      console.warn("[symphony] logout", e);
    }
    onSignedOut();
  };

  let page;
  if (path === "/") {
    page = <Dashboard extensions={extensions} loaded={loaded} setMeta={setPageMeta} />;
  } else if (builtin) {
    const Page = builtin.component;
    page = <Page path={path} info={info} user={user} extensions={extensions} loaded={loaded} setMeta={setPageMeta} />;
  } else if (path === "/help" || path === "/help/extensions") {
    page = <HelpIndex routes={routes} setMeta={setPageMeta} />;
  } else {
    page = <ExtensionPage path={path} target={routes.get(path)} loaded={loaded} info={info} setMeta={setPageMeta} />;
  }

  const crumbs = meta.breadcrumbs ? Object.entries(meta.breadcrumbs) : [];

  return (
    <ShellContext.Provider value={shellValue}>
    <div className={navOpen ? "shell nav-open" : "shell"}>
      <header className="topbar">
        <button type="button" className="icon-btn menu-btn" aria-label="Toggle navigation" aria-expanded={navOpen} onClick={() => setNavOpen((o) => !o)}>
          <i className="fa-solid fa-bars" />
        </button>
        <a
          href="/"
          className="brand"
          onClick={(e) => {
            e.preventDefault();
            navigate("/");
          }}
        >
          <i className="fa-solid fa-music" /> <span>{appName}</span>
        </a>
        <div className="topbar-title" data-testid="page-title">
          {meta.title}
        </div>
        <div className="topbar-actions">
          <ThemeToggle theme={theme} onToggle={onToggleTheme} />
          <span className="user" title={user.roles?.join(", ")}>
            <i className="fa-solid fa-user" /> <span className="user-name">{user.display_name || user.username || user.kind}</span>
          </span>
          <button type="button" className="icon-btn" aria-label="Sign out" title="Sign out" onClick={signOut}>
            <i className="fa-solid fa-right-from-bracket" />
          </button>
        </div>
      </header>
      <nav className="sidebar" aria-label="Main" data-testid="sidebar">
        <div className="nav-group">
          <NavLink to="/" icon="fa-house" label="Home" active={path === "/"} />
          <NavLink to="/help" icon="fa-circle-question" label="Help" active={path === "/help"} />
        </div>
        {groups.map((g) => (
          <div className="nav-group" key={g.group}>
            <div className="nav-group-title">{g.group}</div>
            {g.items.map((m) => (
              <NavLink key={`${m.extension}:${m.route}:${m.label}`} to={normalize(m.route)} icon={m.icon} label={m.label} active={path === normalize(m.route)} testId={`menu-${m.label}`} />
            ))}
          </div>
        ))}
        <div className="nav-group" data-testid="platform-nav">
          <div className="nav-group-title">Platform</div>
          {platformPages.map((p) => (
            <NavLink key={p.path} to={p.path} icon={p.icon} label={p.label} active={path === p.path || path.startsWith(`${p.path}/`)} testId={`platform-${p.label}`} />
          ))}
        </div>
        {error && <div className="nav-error" title={error}>Cannot load extensions: {error}</div>}
      </nav>
      <div className="scrim" onClick={() => setNavOpen(false)} />
      <main className="content">
        {crumbs.length > 0 && (
          <ol className="breadcrumbs" aria-label="Breadcrumbs">
            {crumbs.map(([to, label]) => (
              <li key={to}>
                <a
                  href={to}
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(to);
                  }}
                >
                  {label}
                </a>
              </li>
            ))}
            <li aria-current="page">{meta.title}</li>
          </ol>
        )}
        <ErrorBoundary label={`page ${path}`} resetKey={path}>
          <Suspense fallback={<p className="muted">Loading…</p>}>{page}</Suspense>
        </ErrorBoundary>
      </main>
    </div>
    </ShellContext.Provider>
  );
}
