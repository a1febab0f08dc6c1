//! DKIM signing of outgoing mail (RFC 6376 with rsa-sha256, RFC 8463 ed25519-sha256),
//! relaxed/relaxed canonicalisation, and the keys under `data_dir/dkim/`.
//!
//! Layout: `dkim/<domain>/<selector>.rsa.pem` (PKCS#1) or `<selector>.ed25519.pem`
//! (PKCS#8), mode 0600. Every key a domain has signs (so an ed25519 key is added
//! beside an RSA one, RFC 8463 §4). A domain's keys are listed at each signing, so a
//! key made by `mailyard dkim generate` while `serve` runs is used at once; each key
//! file is read and parsed once and kept while its inode, size and mtime stay the same.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use mail_auth::common::crypto::{DkimKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;

/// The header fields signed (RFC 6376 §5.4.1's recommendations), when present.
pub const SIGNED_HEADERS: [&str; 12] = [
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// RSA modulus size for new keys (RFC 8301 §3.2: at least 1024, 2048 recommended).
pub const RSA_BITS: usize = 2048;

/// A key's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// rsa-sha256.
    Rsa,
    /// ed25519-sha256.
    Ed25519,
}

impl Algorithm {
    fn suffix(self) -> &'static str {
        match self {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        }
    }
}

/// A key on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The signing domain.
    pub domain: String,
    /// The selector.
    pub selector: String,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// The file.
    pub path: PathBuf,
}

/// `data_dir/dkim`.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("dkim")
}

/// Every key under `data_dir/dkim/`, sorted.
pub fn list(data_dir: &Path) -> std::io::Result<Vec<KeyInfo>> {
    let mut out = Vec::new();
    let root = dir(data_dir);
    let Ok(domains) = std::fs::read_dir(&root) else {
        return Ok(out);
    };
    for d in domains.flatten() {
        let Some(domain) = d.file_name().to_str().map(str::to_string) else {
            continue;
        };
        out.extend(domain_keys(data_dir, &domain)?);
    }
    out.sort_by(|a, b| (&a.domain, &a.selector).cmp(&(&b.domain, &b.selector)));
    Ok(out)
}

fn domain_keys(data_dir: &Path, domain: &str) -> std::io::Result<Vec<KeyInfo>> {
    let mut out = Vec::new();
    let Ok(files) = std::fs::read_dir(dir(data_dir).join(domain)) else {
        return Ok(out);
    };
    for f in files.flatten() {
        let name = f.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".pem") else {
            continue;
        };
        let (selector, algorithm) = if let Some(s) = stem.strip_suffix(".rsa") {
            (s, Algorithm::Rsa)
        } else if let Some(s) = stem.strip_suffix(".ed25519") {
            (s, Algorithm::Ed25519)
        } else {
            continue;
        };
        out.push(KeyInfo {
            domain: domain.to_string(),
            selector: selector.to_string(),
            algorithm,
            path: f.path(),
        });
    }
    out.sort_by(|a, b| a.selector.cmp(&b.selector));
    Ok(out)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// Creates a key for `domain` under `data_dir/dkim/` and returns the DNS TXT record
/// to publish at `<selector>._domainkey.<domain>`. Refuses to overwrite a key.
pub fn generate(
    data_dir: &Path,
    domain: &str,
    selector: &str,
    algorithm: Algorithm,
) -> Result<(PathBuf, String), String> {
    let ok_label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !ok_label(selector) {
        return Err(format!(
            "{selector:?} is not a selector (letters, digits, '-')"
        ));
    }
    let domain = mailyard_store::model::validate_domain(domain)?;
    let d = dir(data_dir).join(&domain);
    std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    let path = d.join(format!("{selector}.{}.pem", algorithm.suffix()));
    if path.exists() {
        return Err(format!("{} exists already", path.display()));
    }
    let pair = match algorithm {
        Algorithm::Rsa => mail_auth::dkim::generate::DkimKeyPair::generate_rsa(RSA_BITS),
        Algorithm::Ed25519 => mail_auth::dkim::generate::DkimKeyPair::generate_ed25519(),
    }
    .map_err(|e| format!("generating the key: {e}"))?;
    let text = match algorithm {
        Algorithm::Rsa => pem("RSA PRIVATE KEY", pair.private_key()),
        Algorithm::Ed25519 => pem("PRIVATE KEY", pair.private_key()),
    };
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let record = format!(
        "{selector}._domainkey.{domain}. IN TXT \"{}\"",
        txt_value(algorithm, pair.public_key())
    );
    Ok((path, record))
}

/// The TXT record value for a public key (RFC 6376 §3.6.1): `v=DKIM1; k=…; p=…`, the
/// RSA key (given as PKCS#1) as a SubjectPublicKeyInfo, as verifiers expect; the
/// ed25519 key as its 32 octets (RFC 8463 §4.2).
fn txt_value(algorithm: Algorithm, public: &[u8]) -> String {
    let (k, public) = match algorithm {
        Algorithm::Rsa => ("rsa", spki_rsa(public)),
        Algorithm::Ed25519 => ("ed25519", public.to_vec()),
    };
    format!(
        "v=DKIM1; k={k}; p={}",
        base64::engine::general_purpose::STANDARD.encode(public)
    )
}

/// The TXT record value to publish at `<selector>._domainkey.<domain>` for a key on
/// disk (what `generate` printed when it made it).
pub fn public_value(key: &KeyInfo) -> Result<String, String> {
    let der = PrivateKeyDer::from_pem_file(&key.path)
        .map_err(|e| format!("{}: {e}", key.path.display()))?;
    let bad = |e: ring::error::KeyRejected| format!("{}: {e}", key.path.display());
    let public = match (key.algorithm, &der) {
        (Algorithm::Rsa, PrivateKeyDer::Pkcs1(k)) => {
            let pair = ring::signature::RsaKeyPair::from_der(k.secret_pkcs1_der()).map_err(bad)?;
            pair.public().as_ref().to_vec()
        }
        (Algorithm::Ed25519, PrivateKeyDer::Pkcs8(k)) => {
            use ring::signature::KeyPair;
            let pair =
                ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(k.secret_pkcs8_der())
                    .map_err(bad)?;
            pair.public_key().as_ref().to_vec()
        }
        _ => {
            return Err(format!(
                "{}: not the expected key format",
                key.path.display()
            ));
        }
    };
    Ok(txt_value(key.algorithm, &public))
}

/// The keys of one domain (sorted by selector).
pub fn keys_of(data_dir: &Path, domain: &str) -> std::io::Result<Vec<KeyInfo>> {
    domain_keys(data_dir, &domain.to_ascii_lowercase())
}

fn der_len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
}

/// Wraps a PKCS#1 RSAPublicKey into a SubjectPublicKeyInfo (RFC 5280 §4.1,
/// algorithm rsaEncryption).
fn spki_rsa(pkcs1: &[u8]) -> Vec<u8> {
    const ALG: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0x03];
    der_len(pkcs1.len() + 1, &mut bits);
    bits.push(0);
    bits.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    der_len(ALG.len() + bits.len(), &mut out);
    out.extend_from_slice(&ALG);
    out.extend_from_slice(&bits);
    out
}

/// The DKIM-Signature fields for `message` from `domain` (one per key it has), ready
/// to prepend; empty when the domain has no key. A key that cannot be used is logged
/// and skipped: unsigned mail is still mail.
pub fn sign(data_dir: &Path, domain: &str, message: &[u8]) -> String {
    let mut out = String::new();
    let keys = match domain_keys(data_dir, &domain.to_ascii_lowercase()) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(%domain, error = %e, "cannot list DKIM keys");
            return out;
        }
    };
    for k in keys {
        match sign_with(&k, message) {
            Ok(h) => out.push_str(&h),
            Err(e) => {
                tracing::warn!(path = %k.path.display(), error = %e, "DKIM key not usable; not signing with it");
            }
        }
    }
    out
}

/// `message` signed again after it was changed on the way out (8-bit content
/// converted for a 7-bit peer): the DKIM-Signature fields at its very top are ours —
/// the server prepends its signatures to what it signs, and puts its Received: field
/// above everything it passes on unsigned — so they are replaced by fresh ones from the
/// same domains' keys. Signatures further down (an original sender's) are left; they
/// may no longer verify, as RFC 6376 §5.3 expects of converted mail.
pub fn resign(data_dir: &Path, message: &[u8]) -> Vec<u8> {
    let mut domains: Vec<String> = Vec::new();
    let mut ours = 0;
    for field in mailyard_message::header::field_lines(message) {
        if field.len() < 15 || !field[..15].eq_ignore_ascii_case(b"DKIM-Signature:") {
            break;
        }
        ours += field.len();
        let field = String::from_utf8_lossy(field);
        if let Some(d) = field
            .split(';')
            .filter_map(|tag| tag.trim().strip_prefix("d="))
            .map(|d| d.trim().to_ascii_lowercase())
            .next()
            && !domains.contains(&d)
        {
            domains.push(d);
        }
    }
    let rest = &message[ours..];
    if domains.is_empty() {
        return message.to_vec();
    }
    let mut out: Vec<u8> = domains
        .iter()
        .flat_map(|d| sign(data_dir, d, rest).into_bytes())
        .collect();
    out.extend_from_slice(rest);
    out
}

/// The DKIM-Signature fields for mail of the server's own, from `MAILER-DAEMON@host`
/// (DSNs): signed by the nearest domain with keys among `host` and its parents
/// (`mail.example.com`, then `example.com`), since a signature by the parent domain
/// is aligned with the From: under DMARC's relaxed alignment (RFC 7489 §3.1.1, the
/// default). Empty when none of them has a key.
pub fn sign_for_host(data_dir: &Path, host: &str, message: &[u8]) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let mut domain = host.as_str();
    loop {
        if !domain_keys(data_dir, domain).unwrap_or_default().is_empty() {
            return sign(data_dir, domain, message);
        }
        match domain.split_once('.') {
            // Not up to a top-level domain alone.
            Some((_, parent)) if parent.contains('.') => domain = parent,
            _ => return String::new(),
        }
    }
}

/// Signers made from key files, by path, each with the stamp of the file it was made
/// from: a key is read and parsed once, and again only when its file changes.
type Signers = HashMap<PathBuf, (KeyStamp, Arc<DkimSigner<DkimKey, Done>>)>;

/// What identifies a key file's content without reading it: inode, size, mtime.
type KeyStamp = (u64, u64, i64, i64);

/// Key files a server process keeps signers for; past it the cache starts over.
pub const SIGNER_CACHE_ENTRIES: usize = 1024;

fn signers() -> &'static Mutex<Signers> {
    static SIGNERS: OnceLock<Mutex<Signers>> = OnceLock::new();
    SIGNERS.get_or_init(Mutex::default)
}

/// The signer for `k`: relaxed/relaxed over [`SIGNED_HEADERS`] (RFC 6376 §3.4),
/// whatever the key's algorithm; from the cache while the file is unchanged.
fn signer(k: &KeyInfo) -> Result<Arc<DkimSigner<DkimKey, Done>>, String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&k.path).map_err(|e| e.to_string())?;
    let stamp = (meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec());
    if let Ok(cache) = signers().lock()
        && let Some((s, signer)) = cache.get(&k.path)
        && *s == stamp
    {
        return Ok(signer.clone());
    }
    let text = std::fs::read(&k.path).map_err(|e| e.to_string())?;
    let der = PrivateKeyDer::from_pem_slice(&text).map_err(|e| e.to_string())?;
    let key = match k.algorithm {
        Algorithm::Rsa => {
            #[allow(deprecated)]
            let key = RsaKey::<Sha256>::from_key_der(der).map_err(|e| e.to_string())?;
            DkimKey::from(key)
        }
        Algorithm::Ed25519 => {
            let PrivateKeyDer::Pkcs8(p8) = der else {
                return Err("an ed25519 key must be PKCS#8".into());
            };
            DkimKey::from(
                Ed25519Key::from_pkcs8_der(p8.secret_pkcs8_der()).map_err(|e| e.to_string())?,
            )
        }
    };
    let signer = Arc::new(
        DkimSigner::from_key(key)
            .domain(k.domain.clone())
            .selector(k.selector.clone())
            .headers(SIGNED_HEADERS)
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed),
    );
    if let Ok(mut cache) = signers().lock() {
        if cache.len() >= SIGNER_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(k.path.clone(), (stamp, signer.clone()));
    }
    Ok(signer)
}

/// One DKIM-Signature header for `message` with the key `k`.
fn sign_with(k: &KeyInfo, message: &[u8]) -> Result<String, String> {
    Ok(signer(k)?
        .sign(message)
        .map_err(|e| e.to_string())?
        .to_header())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_value_is_what_generate_printed() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (selector, algorithm) in [("r", Algorithm::Rsa), ("e", Algorithm::Ed25519)] {
            let (_, record) =
                generate(dir.path(), "example.com", selector, algorithm).expect("generate");
            let keys = keys_of(dir.path(), "EXAMPLE.com").expect("keys");
            let key = keys
                .iter()
                .find(|k| k.selector == selector)
                .expect("listed");
            let value = public_value(key).expect("public value");
            assert!(
                record.ends_with(&format!("\"{value}\"")),
                "{record} / {value}"
            );
        }
    }

    /// The `b=` value of the one signature `sign` makes.
    fn b_value(data_dir: &Path, message: &[u8]) -> String {
        let header = sign(data_dir, "example.com", message);
        let tags: String = header.split_whitespace().collect();
        tags.split(';')
            .find_map(|t| t.strip_prefix("b="))
            .expect("one b= tag")
            .to_string()
    }

    /// A key file is parsed once, and again when it is replaced: ed25519 signatures
    /// are deterministic, so the same `b=` means the same key.
    #[test]
    fn a_replaced_key_file_signs_with_the_new_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let message = b"From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n";
        let (path, _) =
            generate(dir.path(), "example.com", "s", Algorithm::Ed25519).expect("generate");
        let first = b_value(dir.path(), message);
        assert_eq!(
            b_value(dir.path(), message),
            first,
            "same key, same signature"
        );
        std::fs::remove_file(&path).expect("remove");
        generate(dir.path(), "example.com", "s", Algorithm::Ed25519).expect("generate again");
        assert_ne!(b_value(dir.path(), message), first, "the new key signs");
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(
            sign(dir.path(), "example.com", message),
            "",
            "no key, no signature"
        );
    }
}
