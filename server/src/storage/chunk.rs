//! TEMPORARY stand-in for the chunk codec (raw little-endian), replaced by the real one.
use super::Sample;
pub(crate) const MAX_CHUNK_SAMPLES: usize = 1024;
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ChunkHeader { pub(crate) count: u32, pub(crate) mint: i64, pub(crate) maxt: i64 }
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChunkError { #[error("bad chunk")] Bad }
pub(crate) fn encode(samples: &[Sample]) -> Result<Vec<u8>, ChunkError> {
    if samples.is_empty() { return Err(ChunkError::Bad); }
    let mut out = Vec::new();
    out.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    out.extend_from_slice(&samples[0].t.to_le_bytes());
    out.extend_from_slice(&samples[samples.len()-1].t.to_le_bytes());
    for s in samples { out.extend_from_slice(&s.t.to_le_bytes()); out.extend_from_slice(&s.v.to_bits().to_le_bytes()); }
    Ok(out)
}
pub(crate) fn peek_header(b: &[u8]) -> Result<ChunkHeader, ChunkError> {
    if b.len() < 20 { return Err(ChunkError::Bad); }
    Ok(ChunkHeader { count: u32::from_le_bytes(b[0..4].try_into().unwrap()), mint: i64::from_le_bytes(b[4..12].try_into().unwrap()), maxt: i64::from_le_bytes(b[12..20].try_into().unwrap()) })
}
pub(crate) fn decode(b: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let h = peek_header(b)?;
    let body = &b[20..];
    if body.len() != h.count as usize * 16 { return Err(ChunkError::Bad); }
    Ok(body.chunks(16).map(|c| Sample { t: i64::from_le_bytes(c[0..8].try_into().unwrap()), v: f64::from_bits(u64::from_le_bytes(c[8..16].try_into().unwrap())) }).collect())
}
