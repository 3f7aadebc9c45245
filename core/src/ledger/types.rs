//! The ledger's value types: what was disclosed, through which channel, by whom, and the filters
//! owners read it with.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::calendar_feeds::CalendarFeedId;
use crate::cliniko::ClinikoId;
use crate::ids::UserId;
use crate::tenancy::{Actor, TenantContext};
use crate::tokens::ClientId;

/// The longest user agent kept (the column's size); longer ones are cut.
const MAX_USER_AGENT: usize = 512;
/// The longest request id kept.
const MAX_REQUEST_ID: usize = 128;

/// A kind of patient data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Name, preferred name, pronouns, date of birth, sex and gender.
    Demographics,
    /// Phone numbers, e-mail, address, emergency contact.
    Contact,
    /// Medical alerts.
    Alerts,
    /// Appointments.
    Appointments,
}

impl Category {
    /// Every category, in display order.
    pub const ALL: [Self; 4] = [
        Self::Demographics,
        Self::Contact,
        Self::Alerts,
        Self::Appointments,
    ];

    /// The stored and API name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Demographics => "demographics",
            Self::Contact => "contact",
            Self::Alerts => "alerts",
            Self::Appointments => "appointments",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }

    const fn bit(self) -> u8 {
        match self {
            Self::Demographics => 1,
            Self::Contact => 2,
            Self::Alerts => 4,
            Self::Appointments => 8,
        }
    }
}

/// A set of categories (what one disclosure showed).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Categories(u8);

impl Categories {
    /// Everything a patient page shows.
    pub const ALL: Self = Self(15);
    /// Only who the patient is (a search result, a recently-viewed list).
    pub const DEMOGRAPHICS: Self = Self(1);

    /// These categories.
    pub fn of(categories: &[Category]) -> Self {
        Self(categories.iter().fold(0, |bits, c| bits | c.bit()))
    }

    /// Whether `category` is in the set.
    pub const fn contains(self, category: Category) -> bool {
        self.0 & category.bit() != 0
    }

    /// The categories, in display order.
    pub fn iter(self) -> impl Iterator<Item = Category> {
        Category::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    /// The stored form: names joined by commas.
    pub fn to_stored(self) -> String {
        self.iter()
            .map(Category::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Parses the stored form; `None` if any name is unknown.
    pub fn from_stored(stored: &str) -> Option<Self> {
        stored
            .split(',')
            .filter(|part| !part.is_empty())
            .map(Category::parse)
            .collect::<Option<Vec<_>>>()
            .map(|list| Self::of(&list))
    }
}

impl fmt::Debug for Categories {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// How the data left ClinicGate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The patient page (`/patients?patient_id=…`).
    Page,
    /// The session JSON API (`/api/tenant/patients/{id}`).
    Json,
    /// A search result on the clinic home (names only).
    Search,
    /// The "recently viewed" list on the clinic home (names only).
    Recent,
    /// The third-party REST API.
    Api,
    /// The FHIR facade.
    Fhir,
    /// A doctor's calendar feed (`/calendars/doctors/{id}.ics`).
    Calendar,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Self; 7] = [
        Self::Page,
        Self::Json,
        Self::Search,
        Self::Recent,
        Self::Api,
        Self::Fhir,
        Self::Calendar,
    ];

    /// The stored and API name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Json => "json",
            Self::Search => "search",
            Self::Recent => "recent",
            Self::Api => "api",
            Self::Fhir => "fhir",
            Self::Calendar => "calendar",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }

    /// Whether this channel opens one patient's record (as opposed to listing names); "recently
    /// viewed" is built from these.
    pub const fn opens_a_record(self) -> bool {
        matches!(self, Self::Page | Self::Json | Self::Api | Self::Fhir)
    }
}

/// What precedes a calendar feed's id where the ledger names it as the actor.
pub const CALENDAR_FEED_ACTOR_PREFIX: &str = "calendar_feed:";

/// Who was shown the data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LedgerActor {
    /// A staff member (browser session).
    User(UserId),
    /// A partner's API client (access token).
    ApiClient(ClientId),
    /// A doctor's calendar feed (the feed's token in its URL).
    CalendarFeed(CalendarFeedId),
}

impl LedgerActor {
    /// The actor of an authenticated request.
    pub fn of(ctx: &TenantContext) -> Self {
        match ctx.actor() {
            Actor::Staff { user_id, .. } => Self::User(*user_id),
            Actor::ApiClient { client_id, .. } => Self::ApiClient(client_id.clone()),
            Actor::CalendarFeed { feed_id, .. } => Self::CalendarFeed(*feed_id),
        }
    }

    /// `user`, `api_client` or `calendar_feed`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::ApiClient(_) => "api_client",
            Self::CalendarFeed(_) => "calendar_feed",
        }
    }

    /// The actor's id as text: a user's UUID, a client's public id, or a feed's id after
    /// [`CALENDAR_FEED_ACTOR_PREFIX`] (a bare UUID is a user's).
    pub fn id(&self) -> String {
        match self {
            Self::User(id) => id.to_string(),
            Self::ApiClient(id) => id.as_str().to_owned(),
            Self::CalendarFeed(id) => format!("{CALENDAR_FEED_ACTOR_PREFIX}{id}"),
        }
    }

    /// Reads a stored or requested actor: a user's UUID, an API client id (`cgcl_…`) or a
    /// calendar feed (`calendar_feed:…`).
    pub fn parse(raw: &str) -> Option<Self> {
        if let Ok(uuid) = raw.parse::<Uuid>() {
            return Some(Self::User(UserId::from_uuid(uuid)));
        }
        if let Some(feed) = raw.strip_prefix(CALENDAR_FEED_ACTOR_PREFIX) {
            return feed.parse().ok().map(Self::CalendarFeed);
        }
        ClientId::parse(raw).map(Self::ApiClient)
    }
}

crate::ids::uuid_id!(
    /// A ledger entry's id (UUIDv7: ordering by id is ordering by time of writing).
    EntryId
);

/// One disclosure. Holds ids only: never a patient's name or details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Its id.
    pub id: EntryId,
    /// Who was shown the data.
    pub actor: LedgerActor,
    /// Whose data (Cliniko id).
    pub patient_id: ClinikoId,
    /// What was shown.
    pub categories: Categories,
    /// How.
    pub channel: Channel,
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// The client's address, when known.
    pub ip: Option<IpAddr>,
    /// The client's user agent, when sent (at most 512 characters).
    pub user_agent: Option<String>,
    /// The request id (also in the response's `X-Request-Id` and in the logs).
    pub request_id: Option<String>,
}

/// Where a disclosure request came from, as the HTTP layer saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// Its `User-Agent`.
    pub user_agent: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
}

impl RequestMeta {
    /// The same, cut to what the ledger stores (a hostile user agent cannot make the insert fail
    /// and so deny service).
    pub(crate) fn bounded(&self) -> Self {
        let cut = |text: &Option<String>, max: usize| {
            text.as_deref()
                .map(|t| t.chars().filter(|c| !c.is_control()).take(max).collect())
                .filter(|t: &String| !t.is_empty())
        };
        Self {
            ip: self.ip,
            user_agent: cut(&self.user_agent, MAX_USER_AGENT),
            request_id: cut(&self.request_id, MAX_REQUEST_ID),
        }
    }
}

/// Where a page of the ledger continues: entries strictly older than this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerCursor(pub EntryId);

impl LedgerCursor {
    /// The opaque text form handed to clients.
    pub fn encode(&self) -> String {
        self.0.0.simple().to_string()
    }

    /// Reads a cursor handed out by [`LedgerCursor::encode`].
    pub fn parse(raw: &str) -> Option<Self> {
        Uuid::try_parse(raw)
            .ok()
            .map(|id| Self(EntryId::from_uuid(id)))
    }
}

/// Which entries to read. Every condition is optional; they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerFilter {
    /// Only this patient's.
    pub patient_id: Option<ClinikoId>,
    /// Only this actor's.
    pub actor: Option<LedgerActor>,
    /// At or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Strictly before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Continue after this entry (pagination).
    pub before: Option<LedgerCursor>,
}

/// One page of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerPage {
    /// Entries, newest first.
    pub entries: Vec<LedgerEntry>,
    /// Where the next page starts, if there is one.
    pub next: Option<LedgerCursor>,
}
