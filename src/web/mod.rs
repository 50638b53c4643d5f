//! Server-rendered pages. Each handler answers a full page, or the fragment when htmx asks
//! (`HX-Request`), so every URL also works with JavaScript off.
pub mod audit;
pub mod login;
pub mod support;
pub mod tokens;
pub mod view;

use crate::auth::{csrf, keys};
use crate::error::AppError;
use actix_session::SessionExt;
use actix_web::dev::Handler;
use actix_web::http::{Method, header};
use actix_web::middleware::from_fn;
use actix_web::{FromRequest, HttpRequest, HttpResponse, Resource, Responder, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    let mut pages = Routes::default();
    pages.route("/", PageRoute::get(login::home));
    login::routes(&mut pages);
    tokens::routes(&mut pages);
    support::routes(&mut pages);
    audit::routes(&mut pages);
    pages.register(cfg);
}

/// The page routes, gathered by address so that each address is one actix resource: a method
/// it does not take then reaches that resource's own default (405 naming the methods it does
/// take) instead of falling through to `unrouted` as an unknown path. The page modules can
/// only register through this, so every route that changes something carries the CSRF check.
#[derive(Default)]
pub struct Routes {
    // In registration order: actix tries resources in that order.
    addresses: Vec<(String, Vec<PageRoute>)>,
}

/// One method of a page address and its handler.
pub struct PageRoute {
    method: Method,
    route: actix_web::Route,
}

impl PageRoute {
    /// A page or fragment. HEAD is answered too (see `startup::head_as_get`).
    pub fn get<F, Args>(handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        PageRoute {
            method: Method::GET,
            route: web::get().to(handler),
        }
    }

    /// A form submission or htmx action. The CSRF check sits on the route rather than on the
    /// whole scope, so that a request no route takes is told 405 or 404, not that its form
    /// expired: only a request that would run a handler needs to prove where it came from.
    pub fn post<F, Args>(handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        PageRoute {
            method: Method::POST,
            route: web::post().to(handler).wrap(from_fn(csrf::verify)),
        }
    }
}

impl Routes {
    pub fn route(&mut self, path: &str, route: PageRoute) -> &mut Self {
        match self.addresses.iter_mut().find(|(p, _)| p == path) {
            Some((_, routes)) => routes.push(route),
            None => self.addresses.push((path.to_owned(), vec![route])),
        }
        self
    }

    fn register(self, cfg: &mut web::ServiceConfig) {
        for (path, routes) in self.addresses {
            let allow = allow_header(routes.iter().map(|r| &r.method));
            let resource = routes
                .into_iter()
                .map(|r| r.route)
                .fold(web::resource(path), Resource::route)
                .default_service(web::to(move |req: HttpRequest| {
                    let allow = allow.clone();
                    async move { wrong_method(&req, &allow) }
                }));
            cfg.service(resource);
        }
    }
}

/// The `Allow` value for these methods, in a fixed order. A GET route answers HEAD as well.
fn allow_header<'a>(methods: impl Iterator<Item = &'a Method> + Clone) -> String {
    let takes = |m: &Method| methods.clone().any(|t| t == m);
    [
        ("GET", takes(&Method::GET)),
        ("HEAD", takes(&Method::GET)),
        ("POST", takes(&Method::POST)),
    ]
    .into_iter()
    .filter_map(|(name, taken)| taken.then_some(name))
    .collect::<Vec<_>>()
    .join(", ")
}

/// A page address asked with a method it does not take: 405 with `Allow` (RFC 9110 §15.5.6),
/// on the portal's error page. A GET here is most often a form's action opened as a link or
/// reloaded, so that one says what to do instead.
fn wrong_method(req: &HttpRequest, allow: &str) -> actix_web::Result<HttpResponse> {
    let message = match *req.method() {
        Method::GET => {
            "This address only takes a form submission. Go back and use the page's buttons."
                .to_owned()
        }
        Method::POST => "This address cannot take a form submission.".to_owned(),
        ref other => format!("This address does not take {other} requests."),
    };
    let res = HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow.to_owned()))
        .finish();
    Err(actix_web::error::InternalError::from_response(message, res).into())
}

/// What the pages answer for an address no page has: the portal's own 404 page, not an empty
/// body. (An address that exists, asked with another method, gets its 405 from its resource.)
pub async fn unrouted() -> actix_web::Result<HttpResponse> {
    Err(AppError::NotFound.into())
}

pub fn html(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// A plain form post is answered by a redirect: the confirmation of the change rides in the
/// session to the page the browser is sent to, which shows it once (`take_flash`).
pub fn see_other_with_flash(req: &HttpRequest, location: &str, message: String) -> HttpResponse {
    if let Err(e) = req.get_session().insert(keys::FLASH, message) {
        // The change itself is done; only its confirmation is lost.
        tracing::warn!(error = %e, "could not keep a confirmation for the next page");
    }
    see_other(location)
}

pub fn take_flash(req: &HttpRequest) -> Option<String> {
    req.get_session()
        .remove_as::<String>(keys::FLASH)
        .and_then(Result::ok)
}
