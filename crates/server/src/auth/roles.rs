//! Roles: the built-in ones plus custom roles stored in `symphony_roles`.

use async_nats::jetstream::kv;
use futures::StreamExt;
use symphony_protocol::rbac::{Grants, Role, builtin_roles};

/// The `symphony_roles` bucket (custom roles only; built-ins live in code).
#[derive(Clone)]
pub struct RoleStore {
    kv: kv::Store,
}

impl RoleStore {
    pub fn new(kv: kv::Store) -> Self {
        RoleStore { kv }
    }

    /// Built-in roles followed by the custom ones.
    pub async fn all(&self) -> anyhow::Result<Vec<Role>> {
        let mut roles = builtin_roles();
        let mut keys = self.kv.keys().await?;
        let mut custom = Vec::new();
        while let Some(k) = keys.next().await {
            if let Some(v) = self.kv.get(k?).await? {
                custom.push(serde_json::from_slice::<Role>(&v)?);
            }
        }
        custom.sort_by(|a, b| a.name.cmp(&b.name));
        roles.extend(custom);
        Ok(roles)
    }

    pub async fn get(&self, name: &str) -> anyhow::Result<Option<Role>> {
        Ok(self.all().await?.into_iter().find(|r| r.name == name))
    }

    pub async fn put(&self, role: &Role) -> anyhow::Result<()> {
        self.kv
            .put(&role.name, serde_json::to_vec(role)?.into())
            .await?;
        Ok(())
    }

    pub async fn delete(&self, name: &str) -> anyhow::Result<()> {
        self.kv.purge(name).await?;
        Ok(())
    }

    /// The union of the named roles (unknown names grant nothing).
    pub async fn grants(&self, names: &[String]) -> anyhow::Result<Grants> {
        let all = self.all().await?;
        Ok(Grants::of(all.iter().filter(|r| names.contains(&r.name))))
    }
}
