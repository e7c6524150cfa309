//! The on-disk layer layout, shared by the image store, kernel overlayfs and
//! this crate's union filesystem. This is the one place it is written down.
//!
//! A layer is a plain directory tree (`layers/<diffid>/diff` in the store).
//! Deletions and opaque directories from OCI tar layers are stored in the form
//! that kernel overlayfs reads when mounted with `userxattr` inside a user
//! namespace, whenever the host allows it:
//!
//! | OCI tar entry            | preferred form (kernel + fuse-overlay)        | marker form (fuse-overlay only)        |
//! |--------------------------|-----------------------------------------------|----------------------------------------|
//! | `dir/.wh.NAME`           | `dir/NAME`: character device 0:0              | `dir/.wh.NAME`: empty regular file     |
//! | `dir/.wh..wh..opq`       | xattr `user.overlay.opaque = "y"` on `dir`    | `dir/.wh..wh..opq`: empty regular file |
//!
//! The marker form is used only where the preferred one cannot be made: a
//! kernel older than 5.8 refuses unprivileged 0:0 device nodes, and NFS and
//! some Lustre setups have no user xattrs. A layer records which form it
//! holds ([`WhiteoutForm`]) so that the driver can tell whether kernel
//! overlayfs may mount it. Readers must honour both forms.
//!
//! Invariants:
//! - a name is never both present and whited out in the same layer;
//! - a marker file never appears in a layer with the preferred form unless it
//!   is itself content (it is then a real file named `.wh.*`, which OCI
//!   forbids, and extraction refuses it).

/// Prefix of a whiteout entry in an OCI tar layer, and of a marker whiteout.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory entry in an OCI tar layer, and of its marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The xattr that marks a directory opaque for overlayfs mounted `userxattr`.
pub const OPAQUE_XATTR: &str = "user.overlay.opaque";
/// The xattr that marks a directory opaque for overlayfs mounted by real root.
pub const OPAQUE_XATTR_TRUSTED: &str = "trusted.overlay.opaque";
/// Value of [`OPAQUE_XATTR`] on an opaque directory.
pub const OPAQUE_VALUE: &[u8] = b"y";

/// Which form a layer's whiteouts and opaque markers take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutForm {
    /// 0:0 character devices and `user.overlay.opaque`: kernel overlayfs and fuse-overlay read it.
    Overlay,
    /// `.wh.` marker files: only fuse-overlay reads it.
    Marker,
}

impl WhiteoutForm {
    /// The name used in layer metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            WhiteoutForm::Overlay => "overlay",
            WhiteoutForm::Marker => "marker",
        }
    }

    /// Parses the name used in layer metadata.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "overlay" => Some(WhiteoutForm::Overlay),
            "marker" => Some(WhiteoutForm::Marker),
            _ => None,
        }
    }
}

/// For an OCI whiteout file name `.wh.NAME`, returns `NAME`. Returns `None`
/// for the opaque marker and for ordinary names.
pub fn whiteout_target(name: &[u8]) -> Option<&[u8]> {
    if name == OPAQUE_MARKER.as_bytes() {
        return None;
    }
    name.strip_prefix(WHITEOUT_PREFIX.as_bytes())
        .filter(|rest| !rest.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteout_names() {
        assert_eq!(whiteout_target(b".wh.foo"), Some(&b"foo"[..]));
        assert_eq!(whiteout_target(b".wh..wh..opq"), None);
        assert_eq!(whiteout_target(b".wh."), None);
        assert_eq!(whiteout_target(b"foo"), None);
        assert_eq!(WhiteoutForm::parse("marker"), Some(WhiteoutForm::Marker));
    }
}
