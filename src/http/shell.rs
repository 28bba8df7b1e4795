//! The frame every citizen page shares (`templates/base.html`): the tenant in the header,
//! the breadcrumb, and the footer with Impressum, Barrierefreiheitserklärung, Kontakt and
//! Datenschutz taken from the policy.

use crate::domain::policy::Policy;

/// One step of the breadcrumb; the current page has no link.
pub struct Crumb {
    pub label: String,
    pub href: Option<String>,
}

/// What the header and footer say of a tenant.
pub struct TenantLinks {
    pub slug: String,
    pub name: String,
    pub address: String,
    pub phone: Option<String>,
    /// The phone number as a `tel:` link wants it (digits and a leading +).
    pub phone_href: String,
    pub imprint: Option<String>,
    pub accessibility: Option<String>,
}

impl TenantLinks {
    pub fn of(policy: &Policy) -> Self {
        let t = &policy.tenant;
        TenantLinks {
            slug: t.slug.clone(),
            name: t.name.clone(),
            address: t.address.clone(),
            phone: t.phone.clone(),
            phone_href: t
                .phone
                .as_deref()
                .unwrap_or("")
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '+')
                .collect(),
            imprint: policy.site.imprint.clone(),
            accessibility: policy.site.accessibility.clone(),
        }
    }
}

pub struct Shell {
    /// The tenant whose page this is; None on the start page and on errors outside one.
    pub tenant: Option<TenantLinks>,
    /// Without a tenant, the footer names every tenant's links.
    pub tenants: Vec<TenantLinks>,
    pub crumbs: Vec<Crumb>,
}

impl Shell {
    /// A page of `policy`'s tenant: the breadcrumb runs Startseite › tenant › `trail`
    /// (each `(label, href)`; the last is the current page and gets no link).
    pub fn tenant(policy: &Policy, trail: &[(&str, Option<String>)]) -> Self {
        let slug = &policy.tenant.slug;
        let mut crumbs = vec![Crumb {
            label: "Startseite".into(),
            href: Some("/".into()),
        }];
        crumbs.push(Crumb {
            label: policy.tenant.name.clone(),
            href: (!trail.is_empty()).then(|| format!("/t/{slug}")),
        });
        for (i, (label, href)) in trail.iter().enumerate() {
            crumbs.push(Crumb {
                label: (*label).to_owned(),
                href: if i + 1 == trail.len() {
                    None
                } else {
                    href.clone()
                },
            });
        }
        Shell {
            tenant: Some(TenantLinks::of(policy)),
            tenants: Vec::new(),
            crumbs,
        }
    }

    /// A page outside any tenant (the start page, an unknown address): the footer lists
    /// every tenant's links.
    pub fn general<'a>(policies: impl IntoIterator<Item = &'a Policy>, crumbs: Vec<Crumb>) -> Self {
        Shell {
            tenant: None,
            tenants: policies.into_iter().map(TenantLinks::of).collect(),
            crumbs,
        }
    }
}
