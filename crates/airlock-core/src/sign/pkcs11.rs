//! Signing keys that never leave a PKCS#11 token (issue 24, feature `pkcs11`).
//!
//! Ed25519 through `CKM_EDDSA` with no parameter (pure Ed25519, PKCS#11 3.0): the host
//! hashes, the token signs the 64-byte digest and then `signature || trusted comment`,
//! so the `.minisig` is minisign's prehashed `ED` and Debian's `minisign -V` verifies it.
//! The module is `dlopen`ed at run time (no C at build time), once per process
//! (`C_Initialize` may only run once). Design: docs/design/keys-and-time.md §1.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use super::pkcs11_uri::{PKCS11_MODULE_ENV, Pkcs11Uri};
use super::{PassphraseSource, Signer};
use crate::trust::{KeyId, PublicKey, TrustError};

/// `CKA_EC_PARAMS` for Ed25519 as a PrintableString `edwards25519` (what SoftHSM and
/// pkcs11-tool write) and as the OID 1.3.101.112 (RFC 8410); both are read.
const PARAMS_NAME: &[u8] = b"\x13\x0cedwards25519";
const PARAMS_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// One initialized context per module path for the whole process.
static CONTEXTS: OnceLock<Mutex<Vec<(PathBuf, Pkcs11)>>> = OnceLock::new();

/// An Ed25519 private key on a token, with an open, logged-in session.
pub struct TokenKey {
    session: Mutex<Session>,
    key: ObjectHandle,
    public: PublicKey,
    uri: String,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("uri", &self.uri)
            .field("key_id", &self.public.key_id())
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    /// Opens the key `uri` names, logging in with the PIN from `pin` (`--pin-file`), else
    /// the URI's `pin-source`, else `AIRLOCK_PKCS11_PIN`, else a prompt.
    pub fn open(uri: &Pkcs11Uri, pin: &PassphraseSource) -> Result<Self, TrustError> {
        let name = uri.to_string();
        let session = open_session(uri, pin, false)?;
        let key = find_one(&session, uri, ObjectClass::PRIVATE_KEY, "private key")?;
        check_private_key(&session, key, &name)?;
        let public = public_half(&session, uri)?;
        Ok(TokenKey {
            session: Mutex::new(session),
            key,
            public,
            uri: name,
        })
    }
}

impl Signer for TokenKey {
    fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    fn sign_raw(&self, msg: &[u8]) -> Result<[u8; 64], TrustError> {
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let mech = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let sig = session
            .sign(&mech, self.key, msg)
            .map_err(|e| token_error(&self.uri, "signing (C_Sign, CKM_EDDSA)", e))?;
        sig.as_slice().try_into().map_err(|_| TrustError::Token {
            uri: self.uri.clone(),
            reason: format!("the token gave a {}-byte signature, not 64", sig.len()),
        })
    }

    fn describe(&self) -> String {
        self.uri.clone()
    }
}

/// Refuses a private key that is not Ed25519, or that wants the PIN for every signature.
fn check_private_key(session: &Session, key: ObjectHandle, name: &str) -> Result<(), TrustError> {
    let attrs = session
        .get_attributes(
            key,
            &[AttributeType::KeyType, AttributeType::AlwaysAuthenticate],
        )
        .map_err(|e| token_error(name, "reading the private key's attributes", e))?;
    let refuse = |reason: String| TrustError::TokenMechanism {
        uri: name.to_owned(),
        reason,
    };
    for a in &attrs {
        match a {
            Attribute::KeyType(t) if *t != KeyType::EC_EDWARDS => {
                return Err(refuse(format!(
                    "the private key is of type {t}, not EC_EDWARDS (Ed25519)"
                )));
            }
            Attribute::AlwaysAuthenticate(true) => {
                return Err(refuse(
                    "the key needs the PIN again for every signature \
                     (CKA_ALWAYS_AUTHENTICATE), which airlock does not do yet"
                        .into(),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Makes a new Ed25519 key pair on the token (`CKM_EC_EDWARDS_KEY_PAIR_GEN`), labelled
/// with the URI's `object` (and `id` if given), the private half sensitive and not
/// extractable; returns its public key. Refuses a label or id already on the token.
pub fn generate(uri: &Pkcs11Uri, pin: &PassphraseSource) -> Result<PublicKey, TrustError> {
    let name = uri.to_string();
    let Some(label) = &uri.object else {
        return Err(TrustError::TokenUri {
            uri: name,
            reason: "a new key needs a label: add object=NAME".into(),
        });
    };
    let session = open_session(uri, pin, true)?;
    let mut common = vec![Attribute::Label(label.as_bytes().to_vec())];
    if let Some(id) = &uri.id {
        common.push(Attribute::Id(id.clone()));
    }
    refuse_taken(&session, &name, &common)?;
    common.push(Attribute::Token(true));
    generate_pair(&session, &name, &common)?;
    public_half(&session, uri)
}

/// Refuses a label or an id (each of `names` on its own) already on the token: either
/// taken would make the URI name two keys.
fn refuse_taken(session: &Session, uri: &str, names: &[Attribute]) -> Result<(), TrustError> {
    for attr in names {
        let existing = session
            .find_objects(std::slice::from_ref(attr))
            .map_err(|e| token_error(uri, "looking for existing objects", e))?;
        if !existing.is_empty() {
            let what = match attr {
                Attribute::Label(_) => "label",
                _ => "id",
            };
            return Err(TrustError::Token {
                uri: uri.to_owned(),
                reason: format!(
                    "{} object(s) with this {what} already on the token; refusing to make a \
                     second key under the same name",
                    existing.len()
                ),
            });
        }
    }
    Ok(())
}

/// `CKM_EC_EDWARDS_KEY_PAIR_GEN` with `common` on both halves, the curve named first as
/// `edwards25519` and then, for tokens that take only that, as the OID.
fn generate_pair(session: &Session, uri: &str, common: &[Attribute]) -> Result<(), TrustError> {
    let private = [
        common,
        &[
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ],
    ]
    .concat();
    let mut last = None;
    for params in [PARAMS_NAME, PARAMS_OID] {
        let public = [
            common,
            &[
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::EcParams(params.to_vec()),
            ],
        ]
        .concat();
        match session.generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public, &private) {
            Ok(_) => return Ok(()),
            Err(
                e @ CkError::Pkcs11(
                    RvError::AttributeValueInvalid
                    | RvError::CurveNotSupported
                    | RvError::DomainParamsInvalid,
                    _,
                ),
            ) => last = Some(e),
            Err(e) => return Err(token_error(uri, "generating the key pair", e)),
        }
    }
    Err(match last {
        Some(e) => token_error(uri, "generating an Ed25519 key pair", e),
        None => TrustError::TokenMechanism {
            uri: uri.to_owned(),
            reason: "no curve parameters accepted".into(),
        },
    })
}

/// A session on the token `uri` names, logged in as the user.
fn open_session(uri: &Pkcs11Uri, pin: &PassphraseSource, rw: bool) -> Result<Session, TrustError> {
    let name = uri.to_string();
    let ctx = context(uri)?;
    let slot = find_slot(&ctx, uri)?;
    let session = if rw {
        ctx.open_rw_session(slot)
    } else {
        ctx.open_ro_session(slot)
    }
    .map_err(|e| token_error(&name, "opening a session", e))?;
    let source = PassphraseSource {
        file: pin.file.clone().or_else(|| uri.pin_source.clone()),
    };
    let pin = source.get_pin(&name).map_err(|e| match e {
        TrustError::InvalidKey { reason, .. } => TrustError::TokenPin {
            uri: name.clone(),
            reason,
        },
        other => other,
    })?;
    match session.login(UserType::User, Some(&AuthPin::from(pin.as_str()))) {
        // Another key of this process already logged in to the token (login is per token).
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(e) => Err(token_error(&name, "logging in (C_Login)", e)),
    }
}

/// The process's context for the module `uri` names, loaded and initialized once.
fn context(uri: &Pkcs11Uri) -> Result<Pkcs11, TrustError> {
    let name = uri.to_string();
    let module = match &uri.module_path {
        Some(p) => p.clone(),
        None => std::env::var_os(PKCS11_MODULE_ENV)
            .map(PathBuf::from)
            .ok_or_else(|| TrustError::TokenModule {
                uri: name.clone(),
                reason: format!(
                    "no module: add ?module-path=/path/to/module.so or set {PKCS11_MODULE_ENV}"
                ),
            })?,
    };
    check_module(&module).map_err(|reason| TrustError::TokenModule {
        uri: name.clone(),
        reason: format!("{}: {reason}", module.display()),
    })?;
    let mut all = CONTEXTS
        .get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some((_, ctx)) = all.iter().find(|(p, _)| *p == module) {
        return Ok(ctx.clone());
    }
    let module_err = |what: &str, e: CkError| TrustError::TokenModule {
        uri: name.clone(),
        reason: format!("{}: {what}: {e}", module.display()),
    };
    let ctx = Pkcs11::new(&module).map_err(|e| module_err("cannot load", e))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(module_err("C_Initialize failed", e)),
    }
    all.push((module, ctx.clone()));
    Ok(ctx)
}

/// Loading a module runs its code with airlock's rights: only an absolute path to a
/// file owned by root or by this user, which neither it nor its directory lets group or
/// others write.
fn check_module(path: &Path) -> Result<(), String> {
    if !path.is_absolute() {
        return Err("not an absolute path".into());
    }
    let real = path
        .canonicalize()
        .map_err(|e| format!("cannot be resolved: {e}"))?;
    let me = rustix::process::geteuid().as_raw();
    let dir = real.parent().unwrap_or(Path::new("/"));
    for (what, p) in [("the module", real.as_path()), ("its directory", dir)] {
        let m = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if m.uid() != 0 && m.uid() != me {
            return Err(format!(
                "{what} ({}) is owned by uid {}, neither root nor this user",
                p.display(),
                m.uid()
            ));
        }
        if m.mode() & 0o022 != 0 {
            return Err(format!(
                "{what} ({}) is writable by group or others (mode {:o}); refusing to load it",
                p.display(),
                m.mode() & 0o7777
            ));
        }
    }
    Ok(())
}

/// The one slot whose token matches the URI's `token` and `serial`.
fn find_slot(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<Slot, TrustError> {
    let name = uri.to_string();
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| token_error(&name, "listing slots", e))?;
    let mut found = Vec::new();
    for slot in &slots {
        let info = ctx
            .get_token_info(*slot)
            .map_err(|e| token_error(&name, "reading token information", e))?;
        let label_ok = uri.token.as_deref().is_none_or(|t| info.label() == t);
        let serial_ok = uri
            .serial
            .as_deref()
            .is_none_or(|s| info.serial_number() == s);
        if label_ok && serial_ok {
            found.push(*slot);
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(TrustError::TokenNotFound {
            uri: name,
            reason: format!("no token matches among the {} present", slots.len()),
        }),
        many => Err(TrustError::TokenNotFound {
            uri: name,
            reason: format!(
                "{} tokens match; add token= or serial= to choose one",
                many.len()
            ),
        }),
    }
}

/// The template selecting the URI's object of `class` (by label and id).
fn selection(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut t = vec![Attribute::Class(class)];
    if let Some(l) = &uri.object {
        t.push(Attribute::Label(l.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    t
}

/// The one object of `class` the URI selects; none or several is a named error.
fn find_one(
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
    what: &str,
) -> Result<ObjectHandle, TrustError> {
    let name = uri.to_string();
    let found = session
        .find_objects(&selection(uri, class))
        .map_err(|e| token_error(&name, "looking for the key", e))?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(TrustError::TokenObjectMissing {
            uri: name,
            reason: format!("no {what} with this label/id on the token"),
        }),
        many => Err(TrustError::TokenObjectMissing {
            uri: name,
            reason: format!("{} {what}s match; add id= to choose one", many.len()),
        }),
    }
}

/// The Ed25519 public key beside the private key (same label/id), from `CKA_EC_POINT`.
fn public_half(session: &Session, uri: &Pkcs11Uri) -> Result<PublicKey, TrustError> {
    let name = uri.to_string();
    let handle = find_one(session, uri, ObjectClass::PUBLIC_KEY, "public key object").map_err(
        |e| match e {
            TrustError::TokenObjectMissing { uri, reason } => TrustError::TokenObjectMissing {
                uri,
                reason: format!("{reason} (import the public key object beside the private key)"),
            },
            other => other,
        },
    )?;
    let attrs = session
        .get_attributes(handle, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(|e| token_error(&name, "reading the public key", e))?;
    let mut params = None;
    let mut point = None;
    for a in attrs {
        match a {
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let mechanism = |reason: String| TrustError::TokenMechanism {
        uri: name.clone(),
        reason,
    };
    match params.as_deref() {
        Some(PARAMS_NAME) | Some(PARAMS_OID) => {}
        other => {
            return Err(mechanism(format!(
                "the public key's curve (CKA_EC_PARAMS {}) is not Ed25519",
                other.map(hex::encode).unwrap_or_else(|| "absent".into())
            )));
        }
    }
    let bytes = point.as_deref().and_then(ed25519_point).ok_or_else(|| {
        mechanism(format!(
            "CKA_EC_POINT {} is neither a DER OCTET STRING of 32 bytes nor 32 raw bytes",
            point
                .as_deref()
                .map(hex::encode)
                .unwrap_or_else(|| "absent".into())
        ))
    })?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|e| TrustError::Token {
        uri: name.clone(),
        reason: format!("the public key is not a valid Ed25519 point: {e}"),
    })?;
    Ok(PublicKey::from_parts(KeyId::derive(&bytes), key))
}

/// The 32 key bytes of a `CKA_EC_POINT`: PKCS#11 3.0 §2.3.5's DER OCTET STRING
/// (`04 20 ...`, SoftHSM, OpenSC) or the raw bytes some tokens give (OP-TEE).
fn ed25519_point(p: &[u8]) -> Option<[u8; 32]> {
    match p {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest.try_into().ok(),
        raw if raw.len() == 32 => raw.try_into().ok(),
        _ => None,
    }
}

/// A cryptoki error as the named error an operator acts on.
fn token_error(uri: &str, op: &str, e: CkError) -> TrustError {
    let uri = uri.to_owned();
    let reason = format!("{op}: {}", short(&e));
    match &e {
        CkError::Pkcs11(rv, _) => match rv {
            RvError::PinIncorrect
            | RvError::PinLocked
            | RvError::PinExpired
            | RvError::PinInvalid
            | RvError::PinLenRange
            | RvError::UserPinNotInitialized => TrustError::TokenPin { uri, reason },
            RvError::TokenNotPresent | RvError::TokenNotRecognized => {
                TrustError::TokenNotFound { uri, reason }
            }
            RvError::MechanismInvalid
            | RvError::MechanismParamInvalid
            | RvError::KeyTypeInconsistent
            | RvError::KeyFunctionNotPermitted
            | RvError::CurveNotSupported => TrustError::TokenMechanism { uri, reason },
            _ => TrustError::Token { uri, reason },
        },
        CkError::LibraryLoading(_) => TrustError::TokenModule { uri, reason },
        _ => TrustError::Token { uri, reason },
    }
}

/// `CKR_PIN_INCORRECT` and the like, the name operators search for, without the
/// specification's paragraph cryptoki's `Display` adds.
fn short(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, f) => format!("CKR_{} in {f:?}", screaming(&format!("{rv:?}"))),
        other => other.to_string(),
    }
}

fn screaming(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ec_point_forms_are_read_and_nothing_else() {
        let key = [7u8; 32];
        let der = [&[0x04, 0x20][..], &key].concat();
        assert_eq!(ed25519_point(&der), Some(key));
        assert_eq!(ed25519_point(&key), Some(key));
        assert_eq!(ed25519_point(&der[..33]), None);
        assert_eq!(
            ed25519_point(&[&[0x04, 0x21][..], &key, &[0]].concat()),
            None
        );
    }

    #[test]
    fn errors_name_the_return_value() {
        let e = token_error(
            "pkcs11:object=k",
            "logging in",
            CkError::Pkcs11(RvError::PinIncorrect, cryptoki::context::Function::Login),
        );
        assert!(matches!(e, TrustError::TokenPin { .. }), "{e:?}");
        assert!(e.to_string().contains("CKR_PIN_INCORRECT"), "{e}");
        assert_eq!(e.exit_code(), 4);
    }

    #[test]
    fn a_module_others_may_write_is_not_loaded() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("m.so");
        std::fs::write(&m, b"not a module").unwrap();
        std::fs::set_permissions(&m, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = check_module(&m).unwrap_err();
        assert!(err.contains("writable by group or others"), "{err}");
        assert!(
            check_module(Path::new("lib.so"))
                .unwrap_err()
                .contains("absolute")
        );
    }
}
