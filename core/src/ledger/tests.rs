use std::sync::Mutex;

use super::*;
use crate::Error;
use crate::ids::UserId;
use crate::tokens::{ClientId, Scope, ScopeSet};
use crate::users::Role;

/// The ledger in a vector, filtered like the database does.
#[derive(Debug, Default)]
struct InMemory(Mutex<Vec<(TenantId, LedgerEntry)>>);

#[async_trait]
impl LedgerRepository for InMemory {
    async fn append_in_tenant(&self, tenant: TenantId, entries: &[LedgerEntry]) -> Result<()> {
        let mut all = self.0.lock().unwrap();
        all.extend(entries.iter().map(|e| (tenant, e.clone())));
        Ok(())
    }

    async fn list_in_tenant(
        &self,
        tenant: TenantId,
        filter: &LedgerFilter,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>> {
        let all = self.0.lock().unwrap();
        let mut found: Vec<LedgerEntry> = all
            .iter()
            .filter(|(t, _)| *t == tenant)
            .map(|(_, e)| e.clone())
            .filter(|e| {
                filter
                    .patient_id
                    .as_ref()
                    .is_none_or(|p| *p == e.patient_id)
            })
            .filter(|e| filter.actor.as_ref().is_none_or(|a| *a == e.actor))
            .filter(|e| filter.before.is_none_or(|c| e.id < c.0))
            .collect();
        found.sort_by_key(|e| std::cmp::Reverse(e.id));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn recent_patients_in_tenant(
        &self,
        _tenant: TenantId,
        _actor: &LedgerActor,
        _limit: u32,
    ) -> Result<Vec<ClinikoId>> {
        Ok(Vec::new())
    }
}

fn staff(tenant: TenantId, role: Role) -> TenantContext {
    TenantContext::new(tenant, UserId::new(), role)
}

fn id(raw: &str) -> ClinikoId {
    ClinikoId::parse(raw).unwrap()
}

#[tokio::test]
async fn each_patient_shown_gets_one_entry_naming_the_authenticated_actor() {
    let repo = Arc::new(InMemory::default());
    let ledger = LedgerService::new(repo.clone());
    let tenant = TenantId::new();
    let client = ClientId::generate();
    let api = TenantContext::for_api_client(
        tenant,
        client.clone(),
        [Scope::PatientsRead].into_iter().collect::<ScopeSet>(),
    );
    let meta = RequestMeta {
        ip: Some("203.0.113.9".parse().unwrap()),
        user_agent: Some(format!("agent\n{}", "x".repeat(2000))),
        request_id: Some("req-1".into()),
    };
    ledger
        .record(
            &api,
            Channel::Fhir,
            Categories::DEMOGRAPHICS,
            &[id("1"), id("2")],
            &meta,
        )
        .await
        .unwrap();
    let stored = repo.0.lock().unwrap().clone();
    assert_eq!(stored.len(), 2);
    let (_, entry) = &stored[0];
    assert_eq!(entry.actor, LedgerActor::ApiClient(client));
    assert_eq!(entry.channel, Channel::Fhir);
    assert_eq!(entry.request_id.as_deref(), Some("req-1"));
    let agent = entry.user_agent.as_deref().unwrap();
    assert_eq!(agent.chars().count(), 512, "cut to the column");
    assert!(!agent.contains('\n'), "control characters are dropped");
}

#[tokio::test]
async fn only_owners_and_admins_read_the_ledger_page_by_page() {
    let repo = Arc::new(InMemory::default());
    let ledger = LedgerService::new(repo);
    let tenant = TenantId::new();
    let clinician = staff(tenant, Role::Clinician);
    for n in 1..=5 {
        ledger
            .record(
                &clinician,
                Channel::Page,
                Categories::ALL,
                &[id(&n.to_string())],
                &RequestMeta::default(),
            )
            .await
            .unwrap();
    }
    assert!(matches!(
        ledger.list(&clinician, &LedgerFilter::default(), 10).await,
        Err(Error::Forbidden(_))
    ));
    let owner = staff(tenant, Role::Owner);
    let first = ledger
        .list(&owner, &LedgerFilter::default(), 2)
        .await
        .unwrap();
    let ids: Vec<_> = first
        .entries
        .iter()
        .map(|e| e.patient_id.to_string())
        .collect();
    assert_eq!(ids, ["5", "4"], "newest first");
    let second = ledger
        .list(
            &owner,
            &LedgerFilter {
                before: first.next,
                ..LedgerFilter::default()
            },
            2,
        )
        .await
        .unwrap();
    assert_eq!(second.entries[0].patient_id.as_str(), "3");
    let last = ledger
        .list(
            &owner,
            &LedgerFilter {
                before: Some(LedgerCursor(second.entries[1].id)),
                ..LedgerFilter::default()
            },
            2,
        )
        .await
        .unwrap();
    assert_eq!(last.entries.len(), 1);
    assert_eq!(last.next, None, "no page after the last");
    let other_clinic = staff(TenantId::new(), Role::Owner);
    let none = ledger
        .list(&other_clinic, &LedgerFilter::default(), 10)
        .await
        .unwrap();
    assert!(none.entries.is_empty());
}

#[test]
fn categories_and_actors_round_trip_through_their_stored_forms() {
    assert_eq!(
        Categories::ALL.to_stored(),
        "demographics,contact,alerts,appointments"
    );
    assert_eq!(
        Categories::from_stored("alerts,demographics"),
        Some(Categories::of(&[Category::Demographics, Category::Alerts]))
    );
    assert_eq!(Categories::from_stored("alerts,secrets"), None);
    let user = LedgerActor::User(UserId::new());
    assert_eq!(LedgerActor::parse(&user.id()), Some(user));
    let client = LedgerActor::ApiClient(ClientId::generate());
    assert_eq!(LedgerActor::parse(&client.id()), Some(client));
    let feed = LedgerActor::CalendarFeed(crate::calendar_feeds::CalendarFeedId::new());
    assert_eq!(LedgerActor::parse(&feed.id()), Some(feed));
    assert_eq!(LedgerActor::parse("calendar_feed:not-a-uuid"), None);
    assert_eq!(LedgerActor::parse("robert'); drop table"), None);
    let cursor = LedgerCursor(EntryId::new());
    assert_eq!(LedgerCursor::parse(&cursor.encode()), Some(cursor));
}
