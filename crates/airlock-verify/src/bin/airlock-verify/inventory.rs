//! `airlock-verify inventory`

use std::path::PathBuf;

use airlock_verify::inventory::{
    INVENTORY_COMMENT, INVENTORY_FORMAT, InventoryBody, InventoryKind,
};
use airlock_verify::outln;

use crate::common::{RegistryArgs, StateArgs};

/// Write what the enclave holds, digests only, signed by the enclave key: for
/// `airlock build --have INVENTORY --trust-enclave enclave.pub`, where policy lets this
/// much data out.
///
/// Lists every tag of every repository of the registry (and the manifests, configs and
/// layers they name) and, with --dest, the sha256 of every file below it. Names no
/// image, tag or path: only digests, the registry's address and the enclave key id.
#[derive(clap::Args)]
pub struct Args {
    /// The enclave registry (`HOST:PORT`).
    #[arg(long, value_name = "HOST")]
    registry: String,
    #[command(flatten)]
    reg: RegistryArgs,
    /// The installed files' directory (as given to install).
    #[arg(long, value_name = "DIR")]
    dest: Option<PathBuf>,
    #[command(flatten)]
    state: StateArgs,
    /// Where to write the signed inventory.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let enclave = a.state.enclave(a.dest.as_deref())?.ok_or_else(|| {
        airlock_verify::Error::usage(
            "give --state-dir DIR or --dest DIR: the enclave key signs the inventory".into(),
        )
    })?;
    let reg = a.reg.client(&a.registry)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let blobs = rt.block_on(airlock_verify::inventory::registry_digests(&reg))?;
    let files = match &a.dest {
        Some(d) => airlock_verify::inventory::file_digests(d)?,
        None => Default::default(),
    };
    let body = InventoryBody {
        format: INVENTORY_FORMAT,
        kind: InventoryKind::AirlockInventory,
        enclave_key: enclave.public_key().key_id().to_string(),
        registry: a.registry.clone(),
        blobs: blobs.into_iter().collect(),
        files: files.into_iter().collect(),
    };
    let json = body.to_json();
    let sig = enclave.sign(json.as_bytes(), INVENTORY_COMMENT)?;
    airlock_verify::fsutil::write_atomic(&a.out, format!("{json}\n{sig}").as_bytes(), 0o644)?;
    outln!(
        "inventory: {} ({} blobs, {} files), signed by enclave key {}",
        a.out.display(),
        body.blobs.len(),
        body.files.len(),
        body.enclave_key
    )?;
    Ok(())
}
