use async_trait::async_trait;
use updraft_core::app::App;
use updraft_core::bundle::Bundle;
use updraft_core::channel::Channel;
use updraft_core::code::Code;
use updraft_core::device::now_ms;
use updraft_core::store::{AppStore, AppView, StoreError, StoreResult};

use crate::table::*;

/// The served bundle kept on a channel item (so the hot path reads one partition range).
/// The bundles a channel item carries: its stable one and its rollout's target.
pub(crate) fn served_of(item: &Item) -> StoreResult<Vec<Bundle>> {
    let mut out = Vec::new();
    for attr in ["served", "rollout_served"] {
        if let Some(doc) = get_s(item, attr) {
            let mut b: Bundle = serde_json::from_str(doc)
                .map_err(|e| StoreError::Unavailable(format!("corrupt record: {e}")))?;
            b.storage_key = get_s(item, &format!("{attr}_key"))
                .unwrap_or_default()
                .to_string();
            out.push(b);
        }
    }
    Ok(out)
}

#[async_trait]
impl AppStore for DynamoStore {
    async fn create_app(&self, app: &App) -> StoreResult<()> {
        let mut item = key(app_pk(&app.app_id), APP_SK);
        item.insert("doc".into(), to_doc(app)?);
        item.insert("stamp".into(), number_attr(0));
        item.insert("override_count".into(), number_attr(0));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Err(StoreError::conflict(
                Code::AppExists,
                format!("app {} already exists", app.app_id),
            )),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn update_app(&self, app: &App) -> StoreResult<()> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(app_pk(&app.app_id), APP_SK)))
            .update_expression("SET doc = :d")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":d", to_doc(app)?)
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => {
                Err(StoreError::NotFound(format!("no app {}", app.app_id)))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get_app(&self, app_id: &str) -> StoreResult<Option<App>> {
        self.get(app_pk(app_id), APP_SK)
            .await?
            .map(|i| from_doc(&i))
            .transpose()
    }

    async fn list_apps(&self) -> StoreResult<Vec<App>> {
        // Rare admin listing: a filtered scan, documented in the README.
        let mut apps: Vec<App> = self
            .scan_kind("APP#", APP_SK)
            .await?
            .iter()
            .map(from_doc)
            .collect::<StoreResult<_>>()?;
        apps.sort_by(|a, b| a.app_id.cmp(&b.app_id));
        Ok(apps)
    }

    async fn delete_app(&self, app_id: &str) -> StoreResult<Vec<String>> {
        let items = self.query_prefix(app_pk(app_id), "").await?;
        let mut storage_keys = Vec::new();
        let mut keys = Vec::new();
        for item in &items {
            let sk = get_s(item, "sk").unwrap_or_default().to_string();
            if sk.starts_with("V#") && get_s(item, "status") != Some("deleted") {
                storage_keys.push(get_s(item, "storage_key").unwrap_or_default().to_string());
            }
            if let Some(device) = sk.strip_prefix("D#") {
                let events = self.query_prefix(events_pk(app_id, device), "").await?;
                self.delete_keys(
                    events
                        .iter()
                        .map(|e| {
                            key(
                                events_pk(app_id, device),
                                get_s(e, "sk").unwrap_or_default(),
                            )
                        })
                        .collect(),
                )
                .await?;
            }
            keys.push(key(app_pk(app_id), sk));
        }
        for pk in [stats_pk(app_id), health_pk(app_id)] {
            let items = self.query_prefix(pk.clone(), "").await?;
            keys.extend(
                items
                    .iter()
                    .map(|i| key(pk.clone(), get_s(i, "sk").unwrap_or_default())),
            );
        }
        // The app item goes last: until then the app still answers, never half-deleted.
        keys.sort_by_key(|k| get_s(k, "sk") == Some(APP_SK));
        self.delete_keys(keys).await?;
        Ok(storage_keys)
    }

    async fn app_view(&self, app_id: &str) -> StoreResult<Option<AppView>> {
        // One query: the app item ("A") and its channels ("C#…") sort before everything else.
        let items = pages(usize::MAX, |start, _| async move {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk < :d")
                .expression_attribute_values(":pk", string_attr(app_pk(app_id)))
                .expression_attribute_values(":d", string_attr("D"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
        })
        .await?;
        let Some(app_item) = items.iter().find(|i| get_s(i, "sk") == Some(APP_SK)) else {
            return Ok(None);
        };
        let mut channels: Vec<Channel> = Vec::new();
        let mut served: Vec<Bundle> = Vec::new();
        for item in items
            .iter()
            .filter(|i| get_s(i, "sk").is_some_and(|s| s.starts_with("C#")))
        {
            channels.push(from_doc(item)?);
            for b in served_of(item)? {
                if !served.iter().any(|x| x.version == b.version) {
                    served.push(b);
                }
            }
        }
        channels.sort_by_key(|c| c.id);
        let debug_sessions = items
            .iter()
            .filter_map(|i| {
                let device = get_s(i, "sk")?.strip_prefix("B#")?;
                Some((device.to_string(), get_n(i, "until")))
            })
            .filter(|(_, until)| *until > now_ms())
            .collect();
        Ok(Some(AppView {
            app: from_doc(app_item)?,
            channels,
            served,
            has_overrides: get_n(app_item, "override_count") > 0,
            debug_sessions,
        }))
    }
}
