//! Roles: the built-in ones plus custom roles stored in `symphony_roles`.

use std::sync::{Arc, LazyLock};

use symphony_protocol::rbac::{Grants, Role, builtin_roles};

use crate::bus::table::Table;

/// The built-in roles, built once.
static BUILTIN: LazyLock<Vec<Role>> = LazyLock::new(builtin_roles);

/// The `symphony_roles` bucket (custom roles only; built-ins live in code).
#[derive(Clone)]
pub struct RoleStore {
    table: Table<Role>,
}

impl RoleStore {
    pub fn new(table: Table<Role>) -> Self {
        RoleStore { table }
    }

    /// Built-in roles followed by the custom ones (from memory when mirrored).
    pub async fn all(&self) -> anyhow::Result<Vec<Role>> {
        let mut roles = BUILTIN.clone();
        let mut custom: Vec<Role> = self
            .table
            .all()
            .await?
            .into_iter()
            .map(|(_, r)| (*r.value).clone())
            .collect();
        custom.sort_by(|a, b| a.name.cmp(&b.name));
        roles.extend(custom);
        Ok(roles)
    }

    pub async fn get(&self, name: &str) -> anyhow::Result<Option<Role>> {
        Ok(self.all().await?.into_iter().find(|r| r.name == name))
    }

    pub async fn put(&self, role: &Role) -> anyhow::Result<()> {
        self.table.put(&role.name, role.clone()).await?;
        Ok(())
    }

    pub async fn delete(&self, name: &str) -> anyhow::Result<()> {
        self.table.purge(name).await
    }

    /// The union of the named roles (unknown names grant nothing). On every signed-in request:
    /// one lookup per name (from memory when mirrored), no copy of the other roles.
    pub async fn grants(&self, names: &[String]) -> anyhow::Result<Grants> {
        let mut custom: Vec<Arc<Role>> = Vec::with_capacity(names.len());
        // Built-in names are never stored (built-in roles are fixed), so they cost no lookup.
        for name in names
            .iter()
            .filter(|n| !BUILTIN.iter().any(|r| &r.name == *n))
        {
            if let Some(role) = self.table.read(name).await? {
                custom.push(role.value);
            }
        }
        let builtin = BUILTIN.iter().filter(|r| names.contains(&r.name));
        Ok(Grants::of(builtin.chain(custom.iter().map(|r| &**r))))
    }
}
