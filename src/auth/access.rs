//! Who may call a route, as the route table declares it, and the lookup the
//! authentication middleware makes before routing.
//!
//! `http::api::table` declares an [`Access`] for every route and registers the table as
//! [`RouteAccess`] app data; the middleware reads it by the matched route pattern, so no
//! path is special-cased here.

use std::collections::HashMap;

use actix_web::http::Method;

use super::Role;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed.
    Public,
    /// At least this role.
    Role(Role),
    /// A scrape: public, or with `metrics_token` set, that bearer token (never a user's).
    Scrape,
}

impl Access {
    /// Whether a bearer token sent to this route is a dashboard user's token, to be looked
    /// up. A scrape's bearer is the metrics token, which its handler checks: looking it up
    /// as a user token would cost a query and record a security event on every scrape.
    pub fn takes_user_token(self) -> bool {
        !matches!(self, Access::Scrape)
    }
}

/// The declared access of every route, by route pattern and method.
#[derive(Debug, Default)]
pub struct RouteAccess {
    by_pattern: HashMap<&'static str, Vec<(Method, Access)>>,
}

impl RouteAccess {
    /// Declares `access` for `method` on `pattern`.
    pub fn declare(&mut self, method: Method, pattern: &'static str, access: Access) {
        self.by_pattern
            .entry(pattern)
            .or_default()
            .push((method, access));
    }

    /// The declared access of `method` on `pattern`, if the table has that route.
    pub fn of(&self, method: &Method, pattern: &str) -> Option<Access> {
        self.by_pattern
            .get(pattern)?
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, a)| *a)
    }

    /// Whether the bearer of a request for `method` on `pattern` (`None`: no route
    /// matched) is a user token to look up. A method the path does not declare (a 405)
    /// follows the path's routes, so a scrape path never looks a bearer up; an unknown
    /// path does, as before routing nothing else is known.
    pub fn takes_user_token(&self, method: &Method, pattern: Option<&str>) -> bool {
        let Some(routes) = pattern.and_then(|p| self.by_pattern.get(p)) else {
            return true;
        };
        match routes.iter().find(|(m, _)| m == method) {
            Some((_, access)) => access.takes_user_token(),
            None => routes.iter().any(|(_, a)| a.takes_user_token()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scrape_routes_skip_the_user_token_lookup() {
        let mut t = RouteAccess::default();
        t.declare(Method::GET, "/metrics", Access::Scrape);
        t.declare(Method::GET, "/health", Access::Public);
        t.declare(Method::GET, "/api/v2/users/{id}", Access::Role(Role::Admin));
        assert_eq!(t.of(&Method::GET, "/metrics"), Some(Access::Scrape));
        assert_eq!(t.of(&Method::POST, "/metrics"), None);
        assert!(!t.takes_user_token(&Method::GET, Some("/metrics")));
        assert!(!t.takes_user_token(&Method::POST, Some("/metrics")));
        assert!(t.takes_user_token(&Method::GET, Some("/health")));
        assert!(t.takes_user_token(&Method::GET, Some("/api/v2/users/{id}")));
        assert!(t.takes_user_token(&Method::DELETE, Some("/api/v2/users/{id}")));
        assert!(t.takes_user_token(&Method::GET, None));
    }
}
