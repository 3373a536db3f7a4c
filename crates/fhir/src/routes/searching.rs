//! What every search shares: its parameters, the scope check, paging through
//! the REST API's keyset lists, and the Bundle.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Caller;
use crate::{
    api::{Api, Call, Origin},
    domain::{
        bundle::{self, Page},
        models::RestPage,
        outcome::Outcome,
        search::Params,
    },
    AppState,
};

/// How many REST pages (of 100) a search walks to count its total; past
/// that the Bundle has no `total` rather than a slow answer.
const COUNT_PAGES: usize = 10;

pub struct Search<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
    pub resource: &'a str,
    pub params: Params,
    pub count: usize,
    pub summary_count: bool,
}

impl<'a> Search<'a> {
    pub fn new(
        state: &'a AppState,
        caller: &'a Caller,
        resource: &'a str,
        params: Params,
    ) -> Result<Self, Outcome> {
        let count = params.count().map_err(Outcome::invalid)?;
        let summary_count = params.summary_count().map_err(Outcome::invalid)?;
        Ok(Self {
            state,
            caller,
            resource,
            params,
            count,
            summary_count,
        })
    }

    pub fn api(&self) -> &Api {
        &self.state.api
    }

    pub fn origin(&self) -> &Origin {
        &self.caller.origin
    }

    /// The one value of `name`, or 400.
    pub fn one(&self, name: &str) -> Result<Option<&str>, Outcome> {
        self.params.one(name).map_err(Outcome::invalid)
    }

    /// The Bundle of `page`, its links listing the `applied` parameters.
    pub fn bundle(&self, applied: &[&str], page: Page) -> Value {
        bundle::searchset(
            &self.state.base,
            self.resource,
            &self.params.applied(applied),
            self.params.cursor(),
            page,
            self.summary_count,
        )
    }

    /// One page of a REST keyset list (`limit`, `cursor`), plus its total when
    /// it can be counted in a few requests: `call` builds the request for a
    /// page size and cursor.
    pub async fn rest_page<T: DeserializeOwned>(
        &self,
        call: impl Fn(usize, Option<&str>) -> Call<'static>,
    ) -> Result<(Vec<T>, Option<String>, Option<usize>), Outcome> {
        let cursor = self.params.cursor();
        let limit = if self.summary_count { 100 } else { self.count };
        let page: RestPage<T> = self.api().read(call(limit, cursor), self.origin()).await?;
        let first_and_only = cursor.is_none() && page.next_cursor.is_none();
        let total = if first_and_only {
            Some(page.items.len())
        } else {
            self.count_all(&call).await?
        };
        Ok((page.items, page.next_cursor, total))
    }

    async fn count_all(
        &self,
        call: &impl Fn(usize, Option<&str>) -> Call<'static>,
    ) -> Result<Option<usize>, Outcome> {
        let mut total = 0;
        let mut cursor: Option<String> = None;
        for _ in 0..COUNT_PAGES {
            let page: RestPage<serde::de::IgnoredAny> = self
                .api()
                .read(call(100, cursor.as_deref()), self.origin())
                .await?;
            total += page.items.len();
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(Some(total)),
            }
        }
        Ok(None)
    }
}
