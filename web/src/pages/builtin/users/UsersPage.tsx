// "Users and Roles" (administrators): local users — create, edit display name, roles and password, disable or
// enable, delete — and the roles with what they grant; custom roles can be created, edited and deleted
// (docs/protocol.md §9.1, §9.2).
import "../builtin.css";
import { listKeys, listRoles, listUsers } from "../api";
import type { BuiltinPageProps } from "../index";
import { ErrorText } from "../shared/ErrorText";
import { NotFound } from "../shared/NotFound";
import { SectionHeader } from "../shared/SectionHeader";
import { useLoad } from "../shared/useLoad";
import { usePageTitle } from "../shared/usePageTitle";
import { CreateUserForm } from "./CreateUserForm";
import { RolesSection } from "./RolesSection";
import { UserTable } from "./UserTable";

const BASE = "/platform/users";

export default function UsersPage({ path, user, setMeta }: BuiltinPageProps) {
  usePageTitle(setMeta, "Users and Roles");
  if (path !== BASE) return <NotFound path={path} what="Users and Roles is a single page." back={[BASE, "Users and Roles"]} />;
  if (!user.admin) {
    return (
      <div className="page bi-page">
        <h1>Users and Roles</h1>
        <div className="card card-muted" data-testid="admins-only">
          <p>Only administrators (role <code>symphony-admin</code>) manage users and roles.</p>
          <p className="muted">Your roles: {user.roles?.join(", ") || "none"}.</p>
        </div>
      </div>
    );
  }
  return <UsersAdmin me={user.username ?? ""} />;
}

function UsersAdmin({ me }: { me: string }) {
  const users = useLoad(listUsers);
  const roles = useLoad(listRoles);
  const keys = useLoad(listKeys);
  const roleNames = (roles.data ?? []).map((r) => r.name);
  const reloadUsers = async () => {
    await Promise.all([users.reload(), keys.reload()]);
  };
  return (
    <div className="page bi-page" data-testid="platform-users">
      <h1>Users and Roles</h1>
      <p className="muted">
        People sign in with a local user. What they see and may call is the union of their roles; the keys and
        registration tokens they create are bounded by those roles too.
      </p>
      <CreateUserForm roleNames={roleNames} onCreated={() => void users.reload()} />
      <section className="bi-section">
        <SectionHeader title="Users" onRefresh={() => void reloadUsers()} refreshing={users.loading} />
        <ErrorText error={users.error} testId="load-error" />
        {!users.data && users.loading && <p className="muted">Loading…</p>}
        {users.data && <UserTable users={users.data} roleNames={roleNames} keys={keys.data ?? []} me={me} reload={reloadUsers} />}
      </section>
      <section className="bi-section">
        <SectionHeader title="Roles" onRefresh={() => void roles.reload()} refreshing={roles.loading} />
        <ErrorText error={roles.error} testId="load-error" />
        {roles.data && <RolesSection roles={roles.data} users={users.data ?? []} reload={roles.reload} />}
      </section>
    </div>
  );
}
