//! The development certificate authority (`carebook certs`): one internal CA and
//! one certificate per service and backing service, each used both as TLS server
//! certificate and as mTLS client certificate, for local runs and tests.
//!
//! Files live in one directory (`ca.pem`, `ca-key.pem`, `<name>.pem`,
//! `<name>-key.pem`; the layout `platform::tls` reads). Generating is idempotent:
//! the CA, once made, is always reused, and a leaf is kept while it is still
//! right for today's rules (same CA, same names, both usages, more than
//! [`RENEW_BEFORE`] left), so running it again only fills what is missing or stale.

use std::{
    collections::BTreeSet,
    fmt,
    fs::{self, OpenOptions},
    io::{self, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, PKCS_ECDSA_P256_SHA256,
};
use time::{Duration, OffsetDateTime};
use x509_parser::{certificate::X509Certificate, extensions::GeneralName};

/// Where `carebook certs` writes unless told otherwise (relative to the current directory).
pub const DEFAULT_DIR: &str = ".dev/certs";

/// Who gets a certificate: our services, the gateway, and the backing services
/// they talk to over TLS.
pub const NAMES: [&str; 13] = [
    "identity",
    "directory",
    "scheduling",
    "notifications",
    "billing",
    "records",
    "portal",
    "fhir",
    "gateway",
    "postgres",
    "redis",
    "rabbitmq",
    "smtp",
];

/// The CA's subject common name.
pub const CA_NAME: &str = "Carebook development CA";

/// A leaf with less than this left is reissued, so a running system never meets an expired one.
pub const RENEW_BEFORE: Duration = Duration::days(30);

/// The CA lives long: replacing it means every peer must trust a new one.
const CA_VALIDITY: Duration = Duration::days(3650);

/// Leaves are short-lived and cheap to reissue.
const LEAF_VALIDITY: Duration = Duration::days(365);

/// Private keys: readable by their owner only.
const KEY_MODE: u32 = 0o600;
/// Certificates are public.
const CERT_MODE: u32 = 0o644;

/// One subject alternative name, comparable so a certificate's set can be checked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum San {
    Dns(String),
    Ip(IpAddr),
}

/// The names a leaf for `name` answers to: the bare name (Compose), the
/// Kubernetes service names, and this machine (a process run outside containers).
fn expected_sans(name: &str) -> BTreeSet<San> {
    [
        San::Dns(name.to_owned()),
        San::Dns(format!("{name}.carebook.svc")),
        San::Dns(format!("{name}.carebook.svc.cluster.local")),
        San::Dns("localhost".to_owned()),
        San::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        San::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ]
    .into_iter()
    .collect()
}

/// The CA certificate: may sign leaves (not further CAs) and revocation lists.
fn ca_params(now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now;
    params.not_after = now + CA_VALIDITY;
    params
}

/// The certificate of `name`: a server certificate for its names that is also
/// its client certificate when it calls others over mTLS.
fn leaf_params(name: &str, now: OffsetDateTime) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(name);
    params.subject_alt_names = expected_sans(name)
        .into_iter()
        .map(|san| match san {
            San::Dns(dns) => dns.try_into().map(SanType::DnsName),
            San::Ip(ip) => Ok(SanType::IpAddress(ip)),
        })
        .collect::<Result<_, _>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    // Lets OpenSSL-based peers (psql, redis-cli) find the issuer by key id.
    params.use_authority_key_identifier_extension = true;
    params.not_before = now;
    params.not_after = now + LEAF_VALIDITY;
    Ok(params)
}

fn common_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// What deciding about a leaf on disk needs to know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LeafFacts {
    /// Its issuer is the current CA and the CA's key signed it.
    signed_by_ca: bool,
    /// The key file beside it holds the certificate's private key.
    key_matches: bool,
    /// Every subject alternative name it carries.
    sans: BTreeSet<San>,
    /// Its extended key usage allows both TLS server and TLS client authentication.
    server_and_client: bool,
    not_after: OffsetDateTime,
}

/// Why a file was (re)issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// There was none.
    Missing,
    /// `--force` or `renew` asked for it.
    Requested,
    /// The file is not a certificate we can read.
    Unreadable(String),
    /// Signed by another CA (the CA was recreated) or not signed validly.
    OtherCa,
    /// The key file is missing or holds another key.
    KeyMismatch,
    /// Its names differ from the ones a certificate for this name carries now.
    NamesChanged,
    /// Not usable as both server and client certificate.
    Usage,
    /// It expires within [`RENEW_BEFORE`].
    ExpiresSoon(OffsetDateTime),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Missing => f.write_str("missing"),
            Reason::Requested => f.write_str("requested"),
            Reason::Unreadable(why) => write!(f, "unreadable: {why}"),
            Reason::OtherCa => f.write_str("not signed by the current CA"),
            Reason::KeyMismatch => f.write_str("key file missing or not its key"),
            Reason::NamesChanged => f.write_str("names changed"),
            Reason::Usage => f.write_str("not for both server and client auth"),
            Reason::ExpiresSoon(at) => write!(f, "expires {}", at.date()),
        }
    }
}

/// Keep a leaf (`None`) or reissue it, and why.
fn review(facts: &LeafFacts, expected: &BTreeSet<San>, now: OffsetDateTime) -> Option<Reason> {
    if !facts.signed_by_ca {
        Some(Reason::OtherCa)
    } else if !facts.key_matches {
        Some(Reason::KeyMismatch)
    } else if &facts.sans != expected {
        Some(Reason::NamesChanged)
    } else if !facts.server_and_client {
        Some(Reason::Usage)
    } else if facts.not_after - now <= RENEW_BEFORE {
        Some(Reason::ExpiresSoon(facts.not_after))
    } else {
        None
    }
}

/// What was done with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Kept,
    Issued(Reason),
}

/// One file `generate` or `renew` looked at; displays as the line the CLI prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub action: Action,
}

impl fmt::Display for FileOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            Action::Kept => write!(f, "kept   {}", self.path.display()),
            Action::Issued(reason) => write!(f, "issued {} ({reason})", self.path.display()),
        }
    }
}

/// Make sure `dir` holds the CA and a good certificate for every name in
/// [`NAMES`]; with `force`, reissue every leaf (never the CA).
pub fn generate(dir: &Path, force: bool) -> anyhow::Result<Vec<FileOutcome>> {
    generate_at(dir, force, OffsetDateTime::now_utc())
}

/// Reissue the certificate of `name` (one of [`NAMES`]) under the existing CA,
/// leaving every other file as it is: how a certificate rotation is rehearsed.
pub fn renew(dir: &Path, name: &str) -> anyhow::Result<Vec<FileOutcome>> {
    renew_at(dir, name, OffsetDateTime::now_utc())
}

fn generate_at(dir: &Path, force: bool, now: OffsetDateTime) -> anyhow::Result<Vec<FileOutcome>> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (ca, mut outcomes) = match Ca::load(dir, now)? {
        Some(ca) => (ca, vec![kept(ca_cert_path(dir)), kept(ca_key_path(dir))]),
        None => Ca::create(dir, now)?,
    };
    for name in NAMES {
        let reason = if force {
            Some(Reason::Requested)
        } else {
            match ca.leaf_facts(dir, name) {
                Ok(facts) => review(&facts, &expected_sans(name), now),
                Err(reason) => Some(reason),
            }
        };
        match reason {
            Some(reason) => outcomes.extend(ca.issue(dir, name, reason, now)?),
            None => outcomes.extend([kept(cert_path(dir, name)), kept(key_path(dir, name))]),
        }
    }
    Ok(outcomes)
}

fn renew_at(dir: &Path, name: &str, now: OffsetDateTime) -> anyhow::Result<Vec<FileOutcome>> {
    anyhow::ensure!(
        NAMES.contains(&name),
        "no certificate is named {name:?}; the names are {}",
        NAMES.join(", ")
    );
    let ca = Ca::load(dir, now)?.with_context(|| {
        format!(
            "no CA in {}; run `carebook certs generate` first",
            dir.display()
        )
    })?;
    ca.issue(dir, name, Reason::Requested, now)
}

fn kept(path: PathBuf) -> FileOutcome {
    FileOutcome {
        path,
        action: Action::Kept,
    }
}

fn ca_cert_path(dir: &Path) -> PathBuf {
    dir.join("ca.pem")
}

fn ca_key_path(dir: &Path) -> PathBuf {
    dir.join("ca-key.pem")
}

fn cert_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.pem"))
}

fn key_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}-key.pem"))
}

/// The CA, able to sign, with its certificate to check leaves against.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: Vec<u8>,
}

impl Ca {
    /// The CA in `dir`, if there is one; an error when it is half there, broken
    /// or about to expire (replacing it is a decision we leave to a person).
    fn load(dir: &Path, now: OffsetDateTime) -> anyhow::Result<Option<Self>> {
        let (cert_path, key_path) = (ca_cert_path(dir), ca_key_path(dir));
        let cert_pem = read_if_exists(&cert_path)?;
        let key_pem = read_if_exists(&key_path)?;
        let (cert_pem, key_pem) = match (cert_pem, key_pem) {
            (None, None) => return Ok(None),
            (Some(cert), Some(key)) => (cert, key),
            _ => anyhow::bail!(
                "{} holds only one of ca.pem and ca-key.pem; restore the other or remove both \
                 to create a new CA (every certificate is then reissued)",
                dir.display()
            ),
        };
        let der = pem_der(&cert_pem).with_context(|| format!("reading {}", cert_path.display()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .with_context(|| format!("reading {}", cert_path.display()))?;
        let key = KeyPair::from_pem(&key_pem)
            .with_context(|| format!("reading {}", key_path.display()))?;
        anyhow::ensure!(
            cert.is_ca(),
            "{} is not a CA certificate",
            cert_path.display()
        );
        anyhow::ensure!(
            cert.public_key().raw == key.subject_public_key_info().as_slice(),
            "{} is not the key of {}",
            key_path.display(),
            cert_path.display()
        );
        let not_after = cert.validity().not_after.to_datetime();
        anyhow::ensure!(
            not_after - now > RENEW_BEFORE,
            "the CA in {} expires {}; remove ca.pem and ca-key.pem to create a new one \
             (every certificate is then reissued)",
            dir.display(),
            not_after.date()
        );
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)
            .with_context(|| format!("reading {}", cert_path.display()))?;
        Ok(Some(Self { issuer, der }))
    }

    /// A new CA, written to `dir` (key first: a certificate without its key is useless).
    fn create(dir: &Path, now: OffsetDateTime) -> anyhow::Result<(Self, Vec<FileOutcome>)> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let params = ca_params(now);
        let cert = params.self_signed(&key)?;
        let (cert_path, key_path) = (ca_cert_path(dir), ca_key_path(dir));
        write_file(&key_path, key.serialize_pem().as_bytes(), KEY_MODE)?;
        write_file(&cert_path, cert.pem().as_bytes(), CERT_MODE)?;
        let outcomes = [cert_path, key_path]
            .into_iter()
            .map(|path| FileOutcome {
                path,
                action: Action::Issued(Reason::Missing),
            })
            .collect();
        let ca = Self {
            issuer: Issuer::new(params, key),
            der: cert.der().to_vec(),
        };
        Ok((ca, outcomes))
    }

    /// Issue the leaf of `name` and write its key and certificate.
    fn issue(
        &self,
        dir: &Path,
        name: &str,
        reason: Reason,
        now: OffsetDateTime,
    ) -> anyhow::Result<Vec<FileOutcome>> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = leaf_params(name, now)?.signed_by(&key, &self.issuer)?;
        let (cert_path, key_path) = (cert_path(dir, name), key_path(dir, name));
        // Key first: a crash in between leaves a pair that does not match, which
        // the next run sees (`KeyMismatch`) and repairs.
        write_file(&key_path, key.serialize_pem().as_bytes(), KEY_MODE)?;
        write_file(&cert_path, cert.pem().as_bytes(), CERT_MODE)?;
        Ok([cert_path, key_path]
            .into_iter()
            .map(|path| FileOutcome {
                path,
                action: Action::Issued(reason.clone()),
            })
            .collect())
    }

    /// What the leaf of `name` in `dir` is, or why it cannot be looked at.
    fn leaf_facts(&self, dir: &Path, name: &str) -> Result<LeafFacts, Reason> {
        let unreadable = |e: &dyn fmt::Display| Reason::Unreadable(e.to_string());
        let pem = read_if_exists(&cert_path(dir, name))
            .map_err(|e| unreadable(&e))?
            .ok_or(Reason::Missing)?;
        let der = pem_der(&pem).map_err(|e| unreadable(&e))?;
        let (_, leaf) = x509_parser::parse_x509_certificate(&der).map_err(|e| unreadable(&e))?;
        let (_, ca) = x509_parser::parse_x509_certificate(&self.der).map_err(|e| unreadable(&e))?;
        let key_matches = read_if_exists(&key_path(dir, name))
            .ok()
            .flatten()
            .and_then(|pem| KeyPair::from_pem(&pem).ok())
            .is_some_and(|key| leaf.public_key().raw == key.subject_public_key_info().as_slice());
        Ok(LeafFacts {
            signed_by_ca: leaf.issuer().as_raw() == ca.subject().as_raw()
                && leaf.verify_signature(Some(ca.public_key())).is_ok(),
            key_matches,
            sans: sans_of(&leaf).map_err(|e| unreadable(&e))?,
            server_and_client: leaf
                .extended_key_usage()
                .map_err(|e| unreadable(&e))?
                .is_some_and(|eku| eku.value.server_auth && eku.value.client_auth),
            not_after: leaf.validity().not_after.to_datetime(),
        })
    }
}

/// The subject alternative names a certificate carries (other kinds than DNS
/// and IP are kept as DNS-like text so they still count as a difference).
fn sans_of(cert: &X509Certificate<'_>) -> Result<BTreeSet<San>, x509_parser::error::X509Error> {
    let Some(ext) = cert.subject_alternative_name()? else {
        return Ok(BTreeSet::new());
    };
    Ok(ext
        .value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(dns) => San::Dns((*dns).to_owned()),
            GeneralName::IPAddress(bytes) => match <[u8; 4]>::try_from(*bytes) {
                Ok(v4) => San::Ip(IpAddr::from(v4)),
                Err(_) => match <[u8; 16]>::try_from(*bytes) {
                    Ok(v6) => San::Ip(IpAddr::from(v6)),
                    Err(_) => San::Dns(format!("{name:?}")),
                },
            },
            other => San::Dns(format!("{other:?}")),
        })
        .collect())
}

/// The DER of the first certificate in a PEM text.
fn pem_der(pem: &str) -> Result<Vec<u8>, x509_parser::nom::Err<x509_parser::error::PEMError>> {
    x509_parser::pem::parse_x509_pem(pem.as_bytes()).map(|(_, pem)| pem.contents)
}

fn read_if_exists(path: &Path) -> anyhow::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
    }
}

/// Replace `path` with `contents`, created with `mode` from the first byte (a key
/// is never readable by others, not even while written), and renamed into place
/// so a reader sees the old file or the new one, never half of one.
#[cfg_attr(not(unix), allow(unused_variables))]
fn write_file(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = path.with_extension("pem.tmp");
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(anyhow::Error::new(e).context(format!("removing {}", tmp.display())));
        }
        _ => {}
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let write = || -> io::Result<()> {
        let mut file = options.open(&tmp)?;
        // The exact mode, whatever the umask took away (a certificate stays readable).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, sync::Arc};

    use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName, UnixTime};
    use tokio_rustls::rustls::{
        self,
        client::{danger::ServerCertVerifier, WebPkiServerVerifier},
        server::WebPkiClientVerifier,
        ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection,
    };

    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("carebook-certs-{}", uuid::Uuid::new_v4()))
    }

    /// Every file in `dir` with its bytes.
    fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        fs::read_dir(dir)
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    fs::read(entry.path()).unwrap(),
                )
            })
            .collect()
    }

    fn good_facts(name: &str, now: OffsetDateTime) -> LeafFacts {
        LeafFacts {
            signed_by_ca: true,
            key_matches: true,
            sans: expected_sans(name),
            server_and_client: true,
            not_after: now + LEAF_VALIDITY,
        }
    }

    #[test]
    fn a_leaf_answers_to_its_service_names_and_this_machine() {
        let now = now();
        let params = leaf_params("gateway", now).unwrap();
        let sans: Vec<String> = params
            .subject_alt_names
            .iter()
            .map(|san| match san {
                SanType::DnsName(dns) => dns.as_str().to_owned(),
                SanType::IpAddress(ip) => ip.to_string(),
                other => panic!("unexpected SAN {other:?}"),
            })
            .collect();
        assert_eq!(
            BTreeSet::from_iter(sans.iter().map(String::as_str)),
            BTreeSet::from([
                "gateway",
                "gateway.carebook.svc",
                "gateway.carebook.svc.cluster.local",
                "localhost",
                "127.0.0.1",
                "::1",
            ])
        );
        assert_eq!(
            params.distinguished_name.get(&DnType::CommonName),
            Some(&rcgen::DnValue::Utf8String("gateway".to_owned()))
        );
    }

    #[test]
    fn a_leaf_serves_and_calls_for_a_year_and_signs_nothing() {
        let now = now();
        let params = leaf_params("records", now).unwrap();
        assert_eq!(
            params.extended_key_usages,
            [
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth
            ]
        );
        assert_eq!(params.is_ca, IsCa::ExplicitNoCa);
        assert_eq!(params.not_after - params.not_before, Duration::days(365));
    }

    #[test]
    fn the_ca_signs_leaves_only_for_ten_years() {
        let now = now();
        let params = ca_params(now);
        assert_eq!(params.is_ca, IsCa::Ca(BasicConstraints::Constrained(0)));
        assert_eq!(
            params.key_usages,
            [KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign]
        );
        assert_eq!(
            params.distinguished_name.get(&DnType::CommonName),
            Some(&rcgen::DnValue::Utf8String(CA_NAME.to_owned()))
        );
        assert_eq!(params.not_after - params.not_before, Duration::days(3650));
    }

    #[test]
    fn a_current_leaf_of_the_current_ca_is_kept() {
        let now = now();
        assert_eq!(
            review(&good_facts("billing", now), &expected_sans("billing"), now),
            None
        );
    }

    #[test]
    fn a_leaf_is_reissued_within_thirty_days_of_expiry() {
        let now = now();
        let mut facts = good_facts("billing", now);
        facts.not_after = now + Duration::days(31);
        assert_eq!(review(&facts, &expected_sans("billing"), now), None);
        facts.not_after = now + Duration::days(30);
        assert_eq!(
            review(&facts, &expected_sans("billing"), now),
            Some(Reason::ExpiresSoon(facts.not_after))
        );
        facts.not_after = now - Duration::days(1);
        assert!(matches!(
            review(&facts, &expected_sans("billing"), now),
            Some(Reason::ExpiresSoon(_))
        ));
    }

    #[test]
    fn a_leaf_of_another_ca_is_reissued() {
        let now = now();
        let mut facts = good_facts("smtp", now);
        facts.signed_by_ca = false;
        assert_eq!(
            review(&facts, &expected_sans("smtp"), now),
            Some(Reason::OtherCa)
        );
    }

    #[test]
    fn a_leaf_without_its_key_is_reissued() {
        let now = now();
        let mut facts = good_facts("smtp", now);
        facts.key_matches = false;
        assert_eq!(
            review(&facts, &expected_sans("smtp"), now),
            Some(Reason::KeyMismatch)
        );
    }

    #[test]
    fn a_leaf_with_other_names_is_reissued() {
        let now = now();
        let mut missing_one = good_facts("redis", now);
        missing_one
            .sans
            .remove(&San::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        let mut extra_one = good_facts("redis", now);
        extra_one.sans.insert(San::Dns("redis.example".to_owned()));
        for facts in [missing_one, extra_one, good_facts("postgres", now)] {
            assert_eq!(
                review(&facts, &expected_sans("redis"), now),
                Some(Reason::NamesChanged)
            );
        }
    }

    #[test]
    fn a_server_only_leaf_is_reissued() {
        let now = now();
        let mut facts = good_facts("portal", now);
        facts.server_and_client = false;
        assert_eq!(
            review(&facts, &expected_sans("portal"), now),
            Some(Reason::Usage)
        );
    }

    #[test]
    fn generating_twice_keeps_everything_and_renew_changes_one_leaf() {
        let dir = temp_dir();
        let first = generate(&dir, false).unwrap();
        assert_eq!(first.len(), 2 + 2 * NAMES.len());
        assert!(first
            .iter()
            .all(|o| o.action == Action::Issued(Reason::Missing)));
        let issued = snapshot(&dir);
        assert_eq!(issued.len(), 2 + 2 * NAMES.len(), "{:?}", issued.keys());

        let second = generate(&dir, false).unwrap();
        assert!(
            second.iter().all(|o| o.action == Action::Kept),
            "{second:?}"
        );
        assert_eq!(snapshot(&dir), issued);

        let renewed = renew(&dir, "scheduling").unwrap();
        assert_eq!(
            renewed.iter().map(|o| &o.path).collect::<Vec<_>>(),
            [&dir.join("scheduling.pem"), &dir.join("scheduling-key.pem")]
        );
        let after = snapshot(&dir);
        let changed: Vec<&str> = after
            .iter()
            .filter(|(file, bytes)| issued.get(*file) != Some(bytes))
            .map(|(file, _)| file.as_str())
            .collect();
        assert_eq!(changed, ["scheduling-key.pem", "scheduling.pem"]);
        // The renewed leaf is a good one: the next run keeps it.
        assert!(generate(&dir, false)
            .unwrap()
            .iter()
            .all(|o| o.action == Action::Kept));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn force_reissues_every_leaf_but_never_the_ca() {
        let dir = temp_dir();
        generate(&dir, false).unwrap();
        let before = snapshot(&dir);
        let forced = generate(&dir, true).unwrap();
        for outcome in &forced {
            let file = outcome.path.file_name().unwrap().to_string_lossy();
            let ca = file.starts_with("ca");
            assert_eq!(outcome.action == Action::Kept, ca, "{outcome}");
            assert_eq!(
                before[file.as_ref()] == fs::read(&outcome.path).unwrap(),
                ca
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn leaves_near_expiry_are_reissued_and_broken_ones_repaired() {
        let dir = temp_dir();
        let now = now();
        generate_at(&dir, false, now).unwrap();
        fs::write(dir.join("redis.pem"), "not a certificate").unwrap();
        fs::remove_file(dir.join("smtp-key.pem")).unwrap();
        let outcomes = generate_at(&dir, false, now).unwrap();
        let action = |file: &str| {
            outcomes
                .iter()
                .find(|o| o.path == dir.join(file))
                .map(|o| o.action.clone())
                .unwrap()
        };
        assert!(matches!(
            action("redis.pem"),
            Action::Issued(Reason::Unreadable(_))
        ));
        assert_eq!(action("smtp.pem"), Action::Issued(Reason::KeyMismatch));
        assert_eq!(action("billing.pem"), Action::Kept);

        let later = now + LEAF_VALIDITY - Duration::days(10);
        for outcome in generate_at(&dir, false, later).unwrap() {
            let file = outcome.path.file_name().unwrap().to_string_lossy();
            if file.starts_with("ca") {
                assert_eq!(outcome.action, Action::Kept, "{outcome}");
            } else {
                assert!(
                    matches!(outcome.action, Action::Issued(Reason::ExpiresSoon(_))),
                    "{outcome}"
                );
            }
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_leaf_of_a_replaced_ca_is_reissued() {
        let dir = temp_dir();
        generate(&dir, false).unwrap();
        fs::remove_file(dir.join("ca.pem")).unwrap();
        assert!(generate(&dir, false).is_err(), "half a CA is left alone");
        fs::remove_file(dir.join("ca-key.pem")).unwrap();
        let outcomes = generate(&dir, false).unwrap();
        assert!(outcomes
            .iter()
            .filter(|o| !o.path.ends_with("ca.pem") && !o.path.ends_with("ca-key.pem"))
            .all(|o| o.action == Action::Issued(Reason::OtherCa)));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn renewing_needs_a_known_name_and_an_existing_ca() {
        let dir = temp_dir();
        assert!(renew(&dir, "gateway").is_err());
        generate(&dir, false).unwrap();
        assert!(renew(&dir, "mysql").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn keys_are_private_and_certificates_public() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        generate(&dir, false).unwrap();
        renew(&dir, "identity").unwrap();
        for (file, bytes) in snapshot(&dir) {
            let mode = fs::metadata(dir.join(&file)).unwrap().permissions().mode() & 0o777;
            let expected = if file.ends_with("-key.pem") {
                0o600
            } else {
                0o644
            };
            assert_eq!(mode, expected, "{file}");
            assert!(!bytes.is_empty());
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    fn roots(dir: &Path) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap())
            .unwrap();
        Arc::new(roots)
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    #[test]
    fn every_leaf_is_a_valid_tls_server_and_client_certificate_under_the_ca() {
        let dir = temp_dir();
        generate(&dir, false).unwrap();
        let servers = WebPkiServerVerifier::builder_with_provider(roots(&dir), provider())
            .build()
            .unwrap();
        let clients = WebPkiClientVerifier::builder_with_provider(roots(&dir), provider())
            .build()
            .unwrap();
        for name in NAMES {
            let leaf = CertificateDer::from_pem_file(cert_path(&dir, name)).unwrap();
            for san in expected_sans(name) {
                let server_name = match san {
                    San::Dns(dns) => ServerName::try_from(dns).unwrap(),
                    San::Ip(ip) => ServerName::from(ip),
                };
                servers
                    .verify_server_cert(&leaf, &[], &server_name, &[], UnixTime::now())
                    .unwrap_or_else(|e| panic!("{name} as {server_name:?}: {e}"));
            }
            let other = ServerName::try_from("billing.carebook.svc").unwrap();
            if name != "billing" {
                assert!(servers
                    .verify_server_cert(&leaf, &[], &other, &[], UnixTime::now())
                    .is_err());
            }
            clients
                .verify_client_cert(&leaf, &[], UnixTime::now())
                .unwrap_or_else(|e| panic!("{name} as client: {e}"));
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    fn server(dir: &Path, name: &str) -> Arc<ServerConfig> {
        let clients = WebPkiClientVerifier::builder_with_provider(roots(dir), provider())
            .build()
            .unwrap();
        Arc::new(
            ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_client_cert_verifier(clients)
                .with_single_cert(
                    vec![CertificateDer::from_pem_file(cert_path(dir, name)).unwrap()],
                    PrivateKeyDer::from_pem_file(key_path(dir, name)).unwrap(),
                )
                .unwrap(),
        )
    }

    fn client(trusting: &Path, dir: &Path, name: &str) -> Arc<ClientConfig> {
        Arc::new(
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots(trusting))
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_file(cert_path(dir, name)).unwrap()],
                    PrivateKeyDer::from_pem_file(key_path(dir, name)).unwrap(),
                )
                .unwrap(),
        )
    }

    /// Run a handshake between two in-memory connections.
    fn handshake(client: &mut Connection, server: &mut Connection) -> Result<(), rustls::Error> {
        fn pass(from: &mut Connection, to: &mut Connection) -> Result<(), rustls::Error> {
            let mut wire = Vec::new();
            while from.wants_write() {
                from.write_tls(&mut wire).unwrap();
            }
            let mut rest = wire.as_slice();
            while !rest.is_empty() {
                to.read_tls(&mut rest).unwrap();
                to.process_new_packets()?;
            }
            Ok(())
        }
        for _ in 0..10 {
            pass(client, server)?;
            pass(server, client)?;
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(());
            }
        }
        panic!("the handshake did not finish");
    }

    #[test]
    fn services_complete_a_mutual_tls_handshake_with_their_certificates() {
        let dir = temp_dir();
        generate(&dir, false).unwrap();
        let mut server =
            Connection::from(ServerConnection::new(server(&dir, "scheduling")).unwrap());
        let mut client = Connection::from(
            ClientConnection::new(
                client(&dir, &dir, "gateway"),
                ServerName::try_from("scheduling.carebook.svc").unwrap(),
            )
            .unwrap(),
        );
        handshake(&mut client, &mut server).unwrap();
        let presented = server.peer_certificates().unwrap();
        assert_eq!(
            presented[0],
            CertificateDer::from_pem_file(cert_path(&dir, "gateway")).unwrap()
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_client_from_another_ca_is_refused() {
        let (ours, theirs) = (temp_dir(), temp_dir());
        generate(&ours, false).unwrap();
        generate(&theirs, false).unwrap();
        let mut server = Connection::from(ServerConnection::new(server(&ours, "records")).unwrap());
        // It trusts our CA, but presents a certificate of another one.
        let mut client = Connection::from(
            ClientConnection::new(
                client(&ours, &theirs, "portal"),
                ServerName::try_from("records").unwrap(),
            )
            .unwrap(),
        );
        assert!(handshake(&mut client, &mut server).is_err());
        fs::remove_dir_all(&ours).unwrap();
        fs::remove_dir_all(&theirs).unwrap();
    }
}
