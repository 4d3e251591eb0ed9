//! The payload file and its volumes. Guarantees: the payload is the one payload file;
//! data volumes are named in order, none empty, all but the last the first one's size,
//! adding up to the payload; parity volumes (only with data volumes, at most one per data
//! volume) are named in order and as long as the stripes of the first data volume, with
//! an even stripe of at most [`MAX_PARITY_STRIPE`].

use serde::{Deserialize, Serialize};

use crate::digest::{Sha256Digest, bare_hex};
use crate::error::{Checked, FormatError};
use crate::layout::{MAX_PARITY_STRIPE, MAX_VOLUMES, PAYLOAD_FILE, VolumeName};

/// The payload file's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadInfo {
    /// File name in the bundle directory (always [`crate::layout::PAYLOAD_FILE`] in
    /// format 1).
    pub file: String,
    /// Compressed size in bytes.
    pub size: u64,
    /// sha256 of the compressed file.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
    /// Size of the tar stream inside, in bytes.
    pub tar_size: u64,
    /// sha256 of the compressed file without the contents of its raw zstd blocks
    /// ([`crate::structure`]). With the entries' sha256s it binds every byte of the file,
    /// so verification hashes each byte once instead of twice. Bundles written before
    /// it have none and are checked against `sha256`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::digest::bare_hex_opt"
    )]
    pub structure_sha256: Option<Sha256Digest>,
    /// When the payload is cut into volumes (`--volume-size`): the volumes, in stream
    /// order. Empty for a payload in one file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Recovery volumes over the data volumes (`--parity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<Parity>,
}

/// Bytes of a volume's start that [`Volume::head_sha256`] covers.
pub const VOLUME_HEAD_BYTES: u64 = 64 * 1024;

/// One payload volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Its file name (`payload.tar.zst.001`, `payload.parity.001`).
    pub file: crate::layout::VolumeName,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the whole volume.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
    /// sha256 of its first [`VOLUME_HEAD_BYTES`] (or all of it, if smaller): a volume
    /// whose start matches but whole does not is damaged; one whose start matches another
    /// volume is out of order; one whose start matches none is from another bundle.
    #[serde(with = "bare_hex")]
    pub head_sha256: Sha256Digest,
}

/// How parity volumes are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParityScheme {
    /// Reed-Solomon over GF(2^16) (the Leopard-RS construction of the
    /// `reed-solomon-simd` crate), stripe by stripe: data volume `i`'s bytes
    /// `[k*stripe, (k+1)*stripe)`, zero-padded, are original shard `i` of stripe `k`;
    /// the parity volumes hold the recovery shards of each stripe in turn. The last
    /// stripe is as long as the first data volume's rest, rounded up to an even length.
    ReedSolomonGf16,
}

/// The recovery volumes of a payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parity {
    /// The code.
    pub scheme: ParityScheme,
    /// Stripe length in bytes (even).
    pub stripe: u64,
    /// The parity volumes.
    pub volumes: Vec<Volume>,
}

impl PayloadInfo {
    /// Every volume, data then parity.
    pub fn all_volumes(&self) -> impl Iterator<Item = &Volume> {
        self.volumes
            .iter()
            .chain(self.parity.iter().flat_map(|p| p.volumes.iter()))
    }

    /// The payload's files with their sha256, as `SHA256SUMS` lists them: the one
    /// payload file, or every volume (in its `volume-NNN/` directory with `dirs`).
    pub fn sums_items(&self, dirs: bool) -> Vec<(String, Sha256Digest)> {
        if self.volumes.is_empty() {
            return vec![(self.file.clone(), self.sha256)];
        }
        let n = self.volumes.len() as u32;
        self.all_volumes()
            .map(|v| {
                let name = if dirs {
                    format!("{}/{}", v.file.dir(n), v.file)
                } else {
                    v.file.to_string()
                };
                (name, v.sha256)
            })
            .collect()
    }

    /// The length of each parity volume: the sum of the stripes (see [`stripe_lengths`]),
    /// or `None` without parity or when it overflows.
    fn parity_volume_size(&self) -> Option<u64> {
        let (first, p) = (self.volumes.first()?, self.parity.as_ref()?);
        stripes_total(first.size, p.stripe)
    }
}

/// `len` cut into `stripe`-byte pieces, the last rounded up to even. Lazy: a signed
/// manifest with a tiny stripe and a huge volume costs iterations, never memory.
pub fn stripe_lengths(len: u64, stripe: u64) -> impl Iterator<Item = u64> {
    let mut off = 0;
    std::iter::from_fn(move || {
        if off >= len || stripe == 0 {
            return None;
        }
        let k = stripe.min(len - off);
        off += k;
        Some(k + (k & 1))
    })
}

/// The sum of [`stripe_lengths`], computed: every whole stripe is even (the format
/// requires it), so only a last, partial, odd piece adds a byte.
pub fn stripes_total(len: u64, stripe: u64) -> Option<u64> {
    if stripe == 0 {
        return Some(0);
    }
    len.checked_add((len % stripe) & 1)
}

/// The payload's name and its volumes.
pub(crate) fn check(p: &PayloadInfo) -> Checked {
    if p.file != PAYLOAD_FILE {
        return Err(FormatError::PayloadFile {
            found: p.file.clone(),
        });
    }
    if p.volumes.is_empty() {
        return match p.parity {
            Some(_) => Err(FormatError::ParityWithoutData),
            None => Ok(()),
        };
    }
    if p.volumes.len() > MAX_VOLUMES as usize {
        return Err(FormatError::TooManyVolumes);
    }
    let mut total: u64 = 0;
    for (i, v) in p.volumes.iter().enumerate() {
        if v.file != VolumeName::Data(i as u32 + 1) {
            return Err(FormatError::VolumeName {
                index: i + 1,
                found: v.file,
            });
        }
        if v.size == 0 || (i + 1 < p.volumes.len() && v.size != p.volumes[0].size) {
            return Err(FormatError::VolumeSize {
                volume: v.file,
                size: v.size,
                first: p.volumes[0].size,
            });
        }
        total = total
            .checked_add(v.size)
            .ok_or(FormatError::VolumeSizesOverflow)?;
    }
    if p.volumes.last().map(|v| v.size) > Some(p.volumes[0].size) {
        return Err(FormatError::LastVolumeLarger);
    }
    if total != p.size {
        return Err(FormatError::VolumesTotal {
            found: total,
            declared: p.size,
        });
    }
    match &p.parity {
        Some(par) => check_parity(p, par),
        None => Ok(()),
    }
}

/// Parity volumes: an even stripe, 1 to as many as data volumes, each the stripes' length.
fn check_parity(p: &PayloadInfo, par: &Parity) -> Checked {
    if par.stripe == 0 || !par.stripe.is_multiple_of(2) || par.stripe > MAX_PARITY_STRIPE {
        return Err(FormatError::ParityStripe { stripe: par.stripe });
    }
    if par.volumes.is_empty() || par.volumes.len() > p.volumes.len() {
        return Err(FormatError::ParityCount {
            parity: par.volumes.len(),
            data: p.volumes.len(),
        });
    }
    let want = p
        .parity_volume_size()
        .ok_or(FormatError::VolumeSizesOverflow)?;
    for (i, v) in par.volumes.iter().enumerate() {
        if v.file != VolumeName::Parity(i as u32 + 1) || v.size != want {
            return Err(FormatError::ParityVolume {
                index: i + 1,
                size: v.size,
                want,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(v: crate::layout::VolumeName, size: u64) -> Volume {
        Volume {
            file: v,
            size,
            sha256: Sha256Digest::of(b"v"),
            head_sha256: Sha256Digest::of(b"h"),
        }
    }

    #[test]
    fn volumes_must_add_up_and_be_named_in_order() {
        use crate::layout::VolumeName::{Data, Parity as P};
        let mut m = PayloadInfo {
            file: PAYLOAD_FILE.into(),
            size: 250,
            sha256: Sha256Digest::of(b"p"),
            tar_size: 1024,
            structure_sha256: None,
            volumes: Vec::new(),
            parity: None,
        };
        m.volumes = vec![vol(Data(1), 100), vol(Data(2), 100), vol(Data(3), 50)];
        check(&m).unwrap();
        use FormatError as F;
        fn with(m: &PayloadInfo, f: &dyn Fn(&mut PayloadInfo)) -> FormatError {
            let mut x = m.clone();
            f(&mut x);
            check(&x).unwrap_err()
        }
        let (found, declared) = (250, 251);
        let e = with(&m, &|x| x.size = 251);
        assert_eq!(e, F::VolumesTotal { found, declared });
        assert_eq!(
            e.to_string(),
            "volumes add up to 250 bytes, the payload is 251"
        );
        let found = Data(2);
        let e = with(&m, &|x| x.volumes.swap(0, 1));
        assert_eq!(e, F::VolumeName { index: 1, found });
        let (volume, size, first) = (Data(2), 99, 100);
        let e = with(&m, &|x| x.volumes[1].size = 99);
        assert_eq!(
            e,
            F::VolumeSize {
                volume,
                size,
                first
            }
        );
        let (volume, size) = (Data(3), 0);
        let e = with(&m, &|x| x.volumes[2].size = 0);
        assert_eq!(
            e,
            F::VolumeSize {
                volume,
                size,
                first
            }
        );
        // Parity: as long as the stripes of the first volume, at most one per data volume.
        m.parity = Some(Parity {
            scheme: ParityScheme::ReedSolomonGf16,
            stripe: 64,
            volumes: vec![vol(P(1), 100)],
        });
        check(&m).unwrap();
        let e = with(&m, &|x| x.parity.as_mut().unwrap().volumes[0].size = 128);
        let (size, want) = (128, 100);
        assert_eq!(
            e,
            F::ParityVolume {
                index: 1,
                size,
                want
            }
        );
        let e = with(&m, &|x| x.parity.as_mut().unwrap().stripe = 63);
        assert_eq!(e, F::ParityStripe { stripe: 63 });
        let e = with(&m, &|x| {
            let p = x.parity.as_mut().unwrap();
            p.volumes = (1..=4).map(|i| vol(P(i), 100)).collect();
        });
        assert_eq!(e, F::ParityCount { parity: 4, data: 3 });
        assert_eq!(stripe_lengths(101, 50).collect::<Vec<_>>(), [50, 50, 2]);
    }

    /// A signed manifest may declare a 2-byte stripe over a 1 TiB volume: the check
    /// computes the parity length instead of listing half a trillion stripes (which
    /// once asked for 4 TiB of memory before refusing).
    #[test]
    fn a_tiny_stripe_over_a_huge_volume_is_checked_without_listing_stripes() {
        use crate::layout::VolumeName::{Data, Parity as P};
        let tib = 1u64 << 40;
        let mut m = PayloadInfo {
            file: PAYLOAD_FILE.into(),
            size: tib,
            sha256: Sha256Digest::of(b"p"),
            tar_size: 1024,
            structure_sha256: None,
            volumes: vec![vol(Data(1), tib)],
            parity: Some(Parity {
                scheme: ParityScheme::ReedSolomonGf16,
                stripe: 2,
                volumes: vec![vol(P(1), tib)],
            }),
        };
        check(&m).unwrap();
        m.parity.as_mut().unwrap().volumes[0].size = tib + 1;
        let e = check(&m).unwrap_err();
        assert!(
            matches!(e, FormatError::ParityVolume { want, .. } if want == tib),
            "{e:?}"
        );
    }

    proptest::proptest! {
        #[test]
        fn the_computed_total_is_the_sum_of_the_stripes(len in 0u64..100_000, half in 1u64..5_000) {
            let stripe = half * 2;
            proptest::prop_assert_eq!(
                stripes_total(len, stripe),
                Some(stripe_lengths(len, stripe).sum::<u64>())
            );
        }
    }
}
