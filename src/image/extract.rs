//! Temporary stub; replaced by the real extractor.
use fuse_overlay::layout::WhiteoutForm;
pub struct ExtractOptions {
    pub id_limit: Option<u32>,
}
pub struct ExtractReport {
    pub entries: u64,
    pub files: u64,
    pub bytes: u64,
    pub skipped_devices: Vec<String>,
    pub clamped_ids: u64,
    pub whiteout_form: WhiteoutForm,
}
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("io {0}")]
    Io(#[from] std::io::Error),
}
pub fn extract<R: std::io::Read>(
    reader: R,
    dest: &std::path::Path,
    _opts: &ExtractOptions,
) -> Result<ExtractReport, ExtractError> {
    tar::Archive::new(reader).unpack(dest)?;
    Ok(ExtractReport {
        entries: 0,
        files: 0,
        bytes: 0,
        skipped_devices: vec![],
        clamped_ids: 0,
        whiteout_form: WhiteoutForm::Overlay,
    })
}
