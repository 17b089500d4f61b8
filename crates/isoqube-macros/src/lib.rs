//! Proc macros for Isoqube: `#[event]`, `#[consumer]` and `service!`.
//!
//! Kept thin on purpose: they check the shape of the annotated item (so misuse is
//! a compile error pointing at the code), then generate a static registration
//! and a call into `isoqube::__private`, where the logic lives and is tested.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Error, Expr, ExprLit, FnArg, ItemFn, ItemStruct, Lit, MetaNameValue, Token, Type};

type Args = Punctuated<MetaNameValue, Token![,]>;

fn parse_args(attr: TokenStream) -> syn::Result<Args> {
    Args::parse_terminated.parse(attr)
}

fn key_of(nv: &MetaNameValue) -> String {
    nv.path
        .get_ident()
        .map(|i| i.to_string())
        .unwrap_or_default()
}

fn lit_str(nv: &MetaNameValue) -> syn::Result<String> {
    // A literal passed through a `macro_rules!` fragment arrives wrapped in an
    // invisible group; look through it so such macros can use our attributes.
    let mut value = &nv.value;
    while let Expr::Group(group) = value {
        value = &group.expr;
    }
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.value()),
        other => Err(Error::new(other.span(), "expected a string literal")),
    }
}

/// A string literal or an array of them.
/// The string literals of `key = "..."` or `key = ["...", ...]`, each with
/// its span (so a bad entry is pointed at).
fn lit_strs_spanned(nv: &MetaNameValue) -> syn::Result<Vec<(String, Span)>> {
    let mut value = &nv.value;
    while let Expr::Group(group) = value {
        value = &group.expr;
    }
    match value {
        Expr::Array(array) => array
            .elems
            .iter()
            .map(|e| match e {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Ok((s.value(), s.span())),
                other => Err(Error::new(other.span(), "expected a string literal")),
            })
            .collect(),
        _ => Ok(vec![(lit_str(nv)?, nv.value.span())]),
    }
}

/// An `accepts` entry must be a MassTransit message type URN with a type
/// name (`urn:message:Ns:Type`); checked here so the error points at it.
fn check_accepted_urn(urn: &str, span: Span) -> syn::Result<()> {
    const PREFIX: &str = "urn:message:";
    let rest = urn
        .get(..PREFIX.len())
        .filter(|head| head.eq_ignore_ascii_case(PREFIX))
        .map(|_| &urn[PREFIX.len()..]);
    match rest {
        Some(rest) if !rest.is_empty() && !rest.ends_with(':') && !rest.starts_with('[') => Ok(()),
        _ => Err(Error::new(
            span,
            format!("accepts: '{urn}' is not a MassTransit message type URN; write `urn:message:Namespace:Type`"),
        )),
    }
}

fn opt(v: &Option<String>) -> TokenStream2 {
    match v {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

/// Marks a struct as an event (topic).
///
/// Options: `name` (default: the struct name), `description` (default: the doc
/// comment), `namespace` (MassTransit message namespace), `exchange` (exchange
/// name override), `accepts` (a message type URN, or an array of them, that
/// is consumed as this event besides its own: a .NET type of another
/// namespace, say; matched like MassTransit, whole and ignoring case). The
/// struct must derive `Serialize` and `Deserialize`. The
/// name is also the struct's associated const `NAME` (for definitions and code
/// that name the event), so the struct cannot have another inherent `NAME`.
///
/// (Compiled and tested as the doc example of `isoqube::event`.)
///
/// ```text
/// /// Code was pushed.
/// #[isoqube::event(exchange = "default-source-ingestion")]
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct DefaultSourceIngestion { repository: String }
/// ```
#[proc_macro_attribute]
pub fn event(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand_event(attr, item) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand_event(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream2> {
    let args = parse_args(attr)?;
    let st: ItemStruct =
        syn::parse(item).map_err(|e| Error::new(e.span(), "#[event] goes on a struct"))?;
    if !st.generics.params.is_empty() {
        return Err(Error::new(
            st.generics.span(),
            "an event cannot be generic: it needs one stable name on the wire",
        ));
    }
    let ident = &st.ident;
    let mut name = ident.to_string();
    let mut description: Option<String> = None;
    let (mut namespace, mut exchange) = (None, None);
    let mut accepts: Vec<String> = Vec::new();
    for nv in &args {
        match key_of(nv).as_str() {
            "accepts" => {
                accepts = Vec::new();
                for (urn, span) in lit_strs_spanned(nv)? {
                    check_accepted_urn(&urn, span)?;
                    accepts.push(urn);
                }
            }
            "name" => name = lit_str(nv)?,
            "description" => description = Some(lit_str(nv)?),
            "namespace" => namespace = Some(lit_str(nv)?),
            "exchange" => exchange = Some(lit_str(nv)?),
            _ => {
                return Err(Error::new(
                    nv.path.span(),
                    "unknown #[event] option; expected name, description, namespace, exchange or accepts",
                ))
            }
        }
    }
    let description = description.unwrap_or_else(|| doc_comment(&st.attrs));
    let fields: Vec<String> = st
        .fields
        .iter()
        .filter_map(|f| {
            let ty = &f.ty;
            f.ident
                .as_ref()
                .map(|i| format!("{i}: {}", quote!(#ty).to_string().replace(' ', "")))
        })
        .collect();
    let (namespace, exchange) = (opt(&namespace), opt(&exchange));
    let info = format_ident!("__ISOQUBE_EVENT_INFO");
    let event_impl = quote_spanned! {ident.span()=>
        impl ::isoqube::Event for #ident {
            const NAME: &'static str = #name;
            fn info() -> &'static ::isoqube::__private::EventInfo {
                &#info
            }
        }
    };
    // Also inherent, so `LinuxBuild::NAME` works without importing the trait.
    let vis = &st.vis;
    let name_doc = format!("The event's stable name, `{name}` (see `isoqube::Event::NAME`).");
    Ok(quote! {
        #st
        impl #ident {
            #[doc = #name_doc]
            // A private event may never name itself this way: not dead code to warn about.
            #[allow(dead_code)]
            #vis const NAME: &'static str = #name;
        }
        const _: () = {
            static #info: ::isoqube::__private::EventInfo = ::isoqube::__private::EventInfo {
                name: #name,
                description: #description,
                namespace: #namespace,
                exchange: #exchange,
                module_path: ::core::module_path!(),
                location: ::core::concat!(::core::file!(), ":", ::core::line!()),
                fields: &[#(#fields),*],
                accepts: ::isoqube::__private::accepted_urns(&[#(#accepts),*]),
            };
            #event_impl
            ::isoqube::__private::inventory::submit! {
                ::isoqube::__private::EventRegistration { info: &#info }
            }
        };
    })
}

/// The text of `retry = ...` (`exponential(attempts = 3, first = "100ms", max =
/// "5s")`), which the expansion hands to the runtime's one retry parser in a
/// constant: a typo fails the build with that parser's message, and the
/// attribute and the configuration file cannot drift apart. Only the shape
/// `name(key = value, ...)` is checked here.
fn retry_text(v: &Expr) -> syn::Result<String> {
    const SHAPE: &str = "retry is a policy: none(), immediate(attempts = 3), \
        interval(attempts = 3, every = \"500ms\") or \
        exponential(attempts = 3, first = \"100ms\", max = \"5s\")";
    let (func, args) = match v {
        Expr::Call(call) => (call.func.as_ref(), call.args.iter().collect::<Vec<_>>()),
        Expr::Path(_) => (v, Vec::new()),
        _ => return Err(Error::new(v.span(), SHAPE)),
    };
    let name = match func {
        Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
        _ => None,
    }
    .ok_or_else(|| Error::new(func.span(), SHAPE))?;
    let args: Vec<String> = args.iter().map(|a| quote!(#a).to_string()).collect();
    Ok(format!("{name}({})", args.join(", ")))
}

fn doc_comment(attrs: &[syn::Attribute]) -> String {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(MetaNameValue {
                value:
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }),
                ..
            }) => Some(s.value().trim().to_string()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_string()
}

/// Marks an async function as a consumer of the event it takes.
///
/// Shape: `async fn name(ev: SomeEvent, ctx: StepContext) -> Result<(), E>` (the
/// context is optional). Options: `endpoint` (queue name; default the kebab-case
/// function name), `service` (group for hosting a subset; default the one
/// `service!` declares for the consumer's module or the nearest module above it,
/// else the crate name), `concurrency` (messages at once, default 16), `retry` (one of
/// `none()`, `immediate(attempts = 3)`, `interval(attempts = 3, every = "500ms")`,
/// `exponential(attempts = 3, first = "100ms", max = "5s")`; `attempts` counts the
/// first invocation; the same words as the configuration's `[service] retry`).
///
/// (Compiled and tested as the doc example of `isoqube::consumer`.)
///
/// ```text
/// isoqube::service!("linux-pool");
///
/// #[isoqube::consumer(retry = interval(attempts = 3, every = "500ms"))]
/// async fn linux_build(ev: LinuxBuild, ctx: StepContext) -> anyhow::Result<()> { Ok(()) }
/// ```
#[proc_macro_attribute]
pub fn consumer(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand_consumer(attr, item) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn is_step_context(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "StepContext"),
        _ => false,
    }
}

fn expand_consumer(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream2> {
    let args = parse_args(attr)?;
    let func: ItemFn =
        syn::parse(item).map_err(|e| Error::new(e.span(), "#[consumer] goes on an async fn"))?;
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        return Err(Error::new(
            sig.fn_token.span(),
            "a consumer must be an `async fn`",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(Error::new(
            sig.generics.span(),
            "a consumer cannot be generic: it consumes one concrete event",
        ));
    }
    let inputs: Vec<&FnArg> = sig.inputs.iter().collect();
    let event_ty = match inputs.first() {
        None => {
            return Err(Error::new(
                sig.paren_token.span.join(),
                "a consumer takes one event argument, e.g. `async fn build(ev: LinuxBuild, ctx: StepContext)`",
            ))
        }
        Some(FnArg::Receiver(r)) => return Err(Error::new(r.span(), "a consumer is a free function, not a method")),
        Some(FnArg::Typed(t)) => (*t.ty).clone(),
    };
    if is_step_context(&event_ty) {
        return Err(Error::new(
            event_ty.span(),
            "the first argument must be the event; the StepContext comes second",
        ));
    }
    let with_ctx =
        match inputs.get(1) {
            None => false,
            Some(FnArg::Typed(t)) if is_step_context(&t.ty) => true,
            Some(other) => return Err(Error::new(
                other.span(),
                "a consumer takes exactly one event; the second argument must be a `StepContext`",
            )),
        };
    if let Some(extra) = inputs.get(2) {
        return Err(Error::new(
            extra.span(),
            "a consumer takes at most two arguments: the event and a `StepContext`",
        ));
    }

    let fn_name = &sig.ident;
    let fn_name_str = fn_name.to_string();
    let mut endpoint = None;
    let mut service: Option<String> = None;
    let mut concurrency = quote!(::isoqube::__private::default_concurrency());
    let mut retry = quote!(::core::option::Option::None);
    for nv in &args {
        match key_of(nv).as_str() {
            "endpoint" => endpoint = Some(lit_str(nv)?),
            "service" => service = Some(lit_str(nv)?),
            "concurrency" => {
                let v = &nv.value;
                if let Expr::Lit(ExprLit {
                    lit: Lit::Int(i), ..
                }) = v
                {
                    if i.base10_parse::<u16>().map_or(true, |n| n == 0) {
                        return Err(Error::new(
                            i.span(),
                            "concurrency must be between 1 and 65535",
                        ));
                    }
                }
                concurrency = quote_spanned!(v.span()=> #v);
            }
            "retry" => {
                let v = &nv.value;
                let text = retry_text(v)?;
                retry = quote_spanned! {v.span()=>
                    ::core::option::Option::Some({
                        const POLICY: ::isoqube::RetryPolicy = ::isoqube::__private::retry(#text);
                        POLICY
                    })
                };
            }
            _ => {
                return Err(Error::new(
                    nv.path.span(),
                    "unknown #[consumer] option; expected endpoint, service, concurrency or retry",
                ))
            }
        }
    }
    let endpoint = opt(&endpoint);
    // Without `service =`, the registry looks for the module's `service!` when
    // it is built (declarations are only all known at link time); the crate
    // name is what is left when no module declares one.
    let inherits_service = service.is_none();
    let service = match service {
        Some(s) => quote!(#s),
        None => quote!(::core::env!("CARGO_PKG_NAME")),
    };
    let call = if with_ctx {
        quote!(#fn_name)
    } else {
        quote!(|ev, _ctx: ::isoqube::StepContext| #fn_name(ev))
    };
    let assert_event = quote_spanned! {event_ty.span()=>
        const _: () = ::isoqube::__private::assert_event::<#event_ty>();
    };
    Ok(quote! {
        #func
        const _: () = {
            #assert_event
            fn __isoqube_handler(
                payload: &::isoqube::__private::Value,
                ctx: ::isoqube::StepContext,
            ) -> ::isoqube::__private::HandlerFuture {
                ::isoqube::__private::invoke::<#event_ty, _, _, _>(#call, payload, ctx)
            }
            fn __isoqube_event() -> &'static ::isoqube::__private::EventInfo {
                <#event_ty as ::isoqube::Event>::info()
            }
            ::isoqube::__private::inventory::submit! {
                ::isoqube::__private::ConsumerRegistration {
                    name: #fn_name_str,
                    endpoint: #endpoint,
                    service: #service,
                    inherits_service: #inherits_service,
                    event: __isoqube_event,
                    concurrency: #concurrency,
                    retry: #retry,
                    handler: __isoqube_handler,
                    module_path: ::core::module_path!(),
                    location: ::core::concat!(::core::file!(), ":", ::core::line!()),
                }
            }
        };
    })
}

/// Declares the service (group for hosting a subset) of the consumers in this
/// module and its submodules, so their `#[consumer]`s need no `service = "..."`.
///
/// The nearest declaration wins (the consumer's module, else its parent, and so
/// on); an explicit `service = "..."` on a consumer wins over any. Two different
/// names declared for one module are refused when the registry is built.
///
/// (Compiled and tested as the doc example of `isoqube::service`.)
///
/// ```text
/// mod linux {
///     isoqube::service!("linux-pool");
///
///     #[isoqube::consumer]
///     async fn linux_build(ev: LinuxBuild) -> anyhow::Result<()> { Ok(()) }
/// }
/// ```
#[proc_macro]
pub fn service(input: TokenStream) -> TokenStream {
    match expand_service(input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand_service(input: TokenStream) -> syn::Result<TokenStream2> {
    const USAGE: &str =
        "expected one string literal: the service name, e.g. `isoqube::service!(\"linux-pool\");`";
    let input = TokenStream2::from(input);
    if input.is_empty() {
        return Err(Error::new(Span::call_site(), USAGE));
    }
    let lit: syn::LitStr = syn::parse2(input).map_err(|e| Error::new(e.span(), USAGE))?;
    let name = lit.value();
    let valid = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if !valid {
        return Err(Error::new(
            lit.span(),
            "a service name is 1-200 characters of letters, digits, '-', '_', '.', ':'",
        ));
    }
    Ok(quote! {
        const _: () = {
            ::isoqube::__private::inventory::submit! {
                ::isoqube::__private::ServiceDeclaration {
                    module: ::core::module_path!(),
                    name: #lit,
                    location: ::core::concat!(::core::file!(), ":", ::core::line!()),
                }
            }
        };
    })
}
