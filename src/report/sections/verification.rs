//! Section 10, how to verify inside the enclave: the airlock-verify commands, and the
//! manual procedure with Debian's tools for those who check without airlock.

use crate::report::{Inputs, Verification};

/// The verification section; the manual procedure names the payload's sha256.
pub(crate) fn build(i: &Inputs<'_>) -> Verification {
    let payload = i
        .manifest
        .map(|m| m.payload.sha256.hex())
        .unwrap_or_default();
    Verification {
        commands: vec![
            "airlock-verify signers BUNDLE --policy /etc/airlock/policy.json".into(),
            "airlock-verify preflight BUNDLE --policy /etc/airlock/policy.json --cluster-dump cluster.json --dest /srv/k8s --registry REGISTRY".into(),
            "airlock-verify install BUNDLE --policy /etc/airlock/policy.json --registry REGISTRY --dest /srv/k8s".into(),
            "airlock-verify log --check --dest /srv/k8s".into(),
        ],
        manual: vec![
            "minisign -V -p KEY.pub -m manifest.json -x signatures/KEYID.minisig   # once per approver".into(),
            "sha256sum -c SHA256SUMS".into(),
            format!("sha256sum payload.tar.zst   # must be {payload}, the payload_sha256 the signatures name"),
            "zstd -dc payload.tar.zst | tar -x -C OUT --no-same-owner --no-same-permissions".into(),
            "skopeo copy --all --preserve-digests oci:OUT:NAME docker://REGISTRY/NAME   # see docs/manual-verify.md".into(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn the_manual_procedure_names_the_payload_digest() {
        let m = fixture::manifest();
        let v = build(&Inputs {
            manifest: Some(&m),
            ..Default::default()
        });
        assert_eq!(v.commands.len(), 4);
        assert!(v.commands.iter().all(|c| c.starts_with("airlock-verify ")));
        let sum = v
            .manual
            .iter()
            .find(|l| l.starts_with("sha256sum payload.tar.zst"))
            .expect("payload line");
        assert!(
            sum.contains(&format!("must be {}", "a".repeat(64))),
            "{sum}"
        );
    }
}
