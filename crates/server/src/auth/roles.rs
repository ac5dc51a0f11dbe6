//! Roles: the built-in ones plus custom roles stored in `symphony_roles`.

use symphony_protocol::rbac::{Grants, Role, builtin_roles};

use crate::bus::table::Table;

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
        let mut roles = builtin_roles();
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

    /// The union of the named roles (unknown names grant nothing).
    pub async fn grants(&self, names: &[String]) -> anyhow::Result<Grants> {
        let all = self.all().await?;
        Ok(Grants::of(all.iter().filter(|r| names.contains(&r.name))))
    }
}
