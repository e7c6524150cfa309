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
//! A name that itself starts with `.wh.`, made through a fuse-overlay
//! mount (kernel overlayfs allows such names), is stored escaped in the
//! upper layer, as [`ESCAPE_PREFIX`] followed by the name, so that it is
//! not taken for a marker; fuse-overlay shows it under its own name. This
//! is what lets a marker-form store live inside a fuse-overlay mount
//! (rless inside an rless container).
//!
//! The overlay's own xattrs (`user.overlay.*`) are private to the layer
//! and hidden through the mount. An xattr of that namespace set through a
//! mount (or carried by an image's tar) is stored escaped, as
//! `user.overlay.overlay.*`, and shown under its own name: what kernel
//! overlayfs does since 6.7, so that overlays nest. `trusted.overlay.*` is
//! hidden and cannot be set.
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

/// Prefix of a name stored escaped (see the module notes).
pub const ESCAPE_PREFIX: &str = ".wh..wh..esc";

/// The name to store for `name`: escaped when it starts with
/// [`WHITEOUT_PREFIX`].
pub fn escape(name: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if name.starts_with(WHITEOUT_PREFIX.as_bytes()) {
        std::borrow::Cow::Owned([ESCAPE_PREFIX.as_bytes(), name].concat())
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// For a stored escaped name, the name it stands for; `None` for any
/// other name.
pub fn unescape(stored: &[u8]) -> Option<&[u8]> {
    stored
        .strip_prefix(ESCAPE_PREFIX.as_bytes())
        .filter(|n| n.starts_with(WHITEOUT_PREFIX.as_bytes()))
}

/// The name shown for a stored name.
pub fn shown(stored: &[u8]) -> &[u8] {
    unescape(stored).unwrap_or(stored)
}

/// Prefix of the overlay's own xattrs (mounted `userxattr`).
pub const OVERLAY_XATTR_PREFIX: &str = "user.overlay.";
/// Prefix of the overlay's own xattrs for real root.
pub const OVERLAY_XATTR_PREFIX_TRUSTED: &str = "trusted.overlay.";
/// Prefix under which an xattr of the overlay's own namespace is stored.
pub const ESCAPED_XATTR_PREFIX: &str = "user.overlay.overlay.";

/// Longest xattr name Linux takes.
pub const XATTR_NAME_MAX: usize = 255;

/// The xattr name to store for `name` given through the mount: escaped in
/// the overlay's namespace; `None` for `trusted.overlay.*` and the bare
/// `user.overlay.` prefix, which cannot be stored. (Escaping may take a
/// name past [`XATTR_NAME_MAX`].)
pub fn xattr_stored(name: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    use std::borrow::Cow;
    if name.starts_with(OVERLAY_XATTR_PREFIX_TRUSTED.as_bytes())
        || name == OVERLAY_XATTR_PREFIX.as_bytes()
    {
        None
    } else if let Some(rest) = name.strip_prefix(OVERLAY_XATTR_PREFIX.as_bytes()) {
        Some(Cow::Owned([ESCAPED_XATTR_PREFIX.as_bytes(), rest].concat()))
    } else {
        Some(Cow::Borrowed(name))
    }
}

/// The xattr name shown for a stored one; `None` for the overlay's own
/// (private) xattrs.
pub fn xattr_shown(stored: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    use std::borrow::Cow;
    if let Some(rest) = stored.strip_prefix(ESCAPED_XATTR_PREFIX.as_bytes()) {
        Some(Cow::Owned([OVERLAY_XATTR_PREFIX.as_bytes(), rest].concat()))
    } else if is_private_xattr(stored) {
        None
    } else {
        Some(Cow::Borrowed(stored))
    }
}

/// Whether a stored xattr is the overlay's own (not copied up, not shown).
pub fn is_private_xattr(stored: &[u8]) -> bool {
    (stored.starts_with(OVERLAY_XATTR_PREFIX.as_bytes())
        && !stored.starts_with(ESCAPED_XATTR_PREFIX.as_bytes()))
        || stored.starts_with(OVERLAY_XATTR_PREFIX_TRUSTED.as_bytes())
}

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

    #[test]
    fn escaped_names_round_trip() {
        for name in [
            &b".wh.x"[..],
            b".wh..wh..opq",
            b".wh..wh..esc.wh.y",
            b".wh.",
        ] {
            let stored = escape(name);
            assert!(stored.starts_with(ESCAPE_PREFIX.as_bytes()));
            assert_eq!(unescape(&stored), Some(name));
            assert_eq!(shown(&stored), name);
            assert_ne!(&*stored, OPAQUE_MARKER.as_bytes());
        }
        assert_eq!(&*escape(b"plain"), b"plain");
        assert_eq!(unescape(b"plain"), None);
        assert_eq!(unescape(OPAQUE_MARKER.as_bytes()), None);
        assert_eq!(unescape(b".wh.x"), None, "a marker is not an escaped name");
        assert_eq!(unescape(ESCAPE_PREFIX.as_bytes()), None);
    }

    #[test]
    fn overlay_xattrs_are_escaped() {
        let stored = |n: &str| xattr_stored(n.as_bytes()).map(|c| c.into_owned());
        let shown = |n: &str| xattr_shown(n.as_bytes()).map(|c| c.into_owned());
        assert_eq!(stored("user.x").as_deref(), Some(&b"user.x"[..]));
        assert_eq!(
            stored("user.overlay.opaque").as_deref(),
            Some(&b"user.overlay.overlay.opaque"[..])
        );
        assert_eq!(
            stored("user.overlay.overlay.y").as_deref(),
            Some(&b"user.overlay.overlay.overlay.y"[..])
        );
        assert_eq!(stored("trusted.overlay.opaque"), None);
        assert_eq!(stored("user.overlay."), None);
        assert_eq!(shown("user.overlay.opaque"), None);
        assert_eq!(shown("trusted.overlay.opaque"), None);
        assert_eq!(shown("user.overlay.origin"), None);
        assert_eq!(
            shown("security.capability").as_deref(),
            Some(&b"security.capability"[..])
        );
        for n in ["user.overlay.a", "user.overlay.overlay.b", "user.c"] {
            let s = stored(n).unwrap();
            assert_eq!(xattr_shown(&s).as_deref(), Some(n.as_bytes()), "{n}");
            assert!(!is_private_xattr(&s));
        }
        assert!(is_private_xattr(OPAQUE_XATTR.as_bytes()));
    }
}
