//! H.264 bitstream helpers: Annex B (what encoders emit) to AVCC (what FLV and
//! MP4 carry), and the decoder configuration record.

pub const NAL_SLICE_IDR: u8 = 5;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_AUD: u8 = 9;

pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// Splits an Annex B stream at its 3- or 4-byte start codes.
pub fn split_annexb(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &(_, begin)) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(data.len(), |&(code, _)| code);
        // A 4-byte start code leaves a zero at the end of the previous unit.
        while end > begin && data[end - 1] == 0 && k + 1 < starts.len() {
            end -= 1;
        }
        if end > begin {
            nals.push(&data[begin..end]);
        }
    }
    nals
}

/// The first SPS and PPS of an access unit, if it carries them.
pub fn parameter_sets(annexb: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let nals = split_annexb(annexb);
    let sps = nals.iter().find(|n| nal_type(n) == NAL_SPS)?;
    let pps = nals.iter().find(|n| nal_type(n) == NAL_PPS)?;
    Some((sps.to_vec(), pps.to_vec()))
}

/// Length-prefixed NAL units, without parameter sets or delimiters (those
/// travel in the decoder configuration record).
pub fn to_avcc(annexb: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(annexb.len() + 16);
    for nal in split_annexb(annexb) {
        if matches!(nal_type(nal), NAL_SPS | NAL_PPS | NAL_AUD) {
            continue;
        }
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

/// AVCDecoderConfigurationRecord (ISO 14496-15) with 4-byte NAL lengths.
pub fn decoder_configuration(sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let mut out = vec![
        1,
        sps.get(1).copied().unwrap_or(66),
        sps.get(2).copied().unwrap_or(0),
        sps.get(3).copied().unwrap_or(31),
        0xff, // 6 reserved bits + lengthSizeMinusOne = 3
        0xe1, // 3 reserved bits + one SPS
    ];
    out.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    out.extend_from_slice(sps);
    out.push(1);
    out.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    out.extend_from_slice(pps);
    // High profiles carry their chroma format and bit depths too (14496-15
    // 5.3.3.1.2): 4:2:0, 8 bits, no SPS extension, all openh264 makes.
    if matches!(sps.get(1), Some(100 | 110 | 122 | 144)) {
        out.extend_from_slice(&[0xfc | 1, 0xf8, 0xf8, 0]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AU: &[u8] = &[
        0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xaa, // SPS
        0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, // PPS
        0, 0, 1, 0x65, 0x88, 0x84, 0x00, // IDR slice
    ];

    #[test]
    fn high_profile_records_carry_chroma_format_and_bit_depths() {
        let baseline = decoder_configuration(&[0x67, 66, 0xc0, 31], &[0x68, 1]);
        assert_eq!(baseline.len(), 6 + 2 + 4 + 1 + 2 + 2);
        let high = decoder_configuration(&[0x67, 100, 0, 31], &[0x68, 1]);
        assert_eq!(high[1], 100);
        assert_eq!(high[high.len() - 4..], [0xfd, 0xf8, 0xf8, 0]);
    }

    #[test]
    fn splits_on_three_and_four_byte_start_codes() {
        let nals = split_annexb(AU);
        assert_eq!(nals.len(), 3);
        assert_eq!(
            nals.iter().map(|n| nal_type(n)).collect::<Vec<_>>(),
            [7, 8, 5]
        );
        assert_eq!(nals[2], &[0x65, 0x88, 0x84, 0x00]);
    }

    #[test]
    fn avcc_keeps_slices_and_moves_parameter_sets_out() {
        assert_eq!(to_avcc(AU), vec![0, 0, 0, 4, 0x65, 0x88, 0x84, 0x00]);
        let (sps, pps) = parameter_sets(AU).unwrap();
        let record = decoder_configuration(&sps, &pps);
        assert_eq!(&record[..4], &[1, 0x42, 0xc0, 0x1f]);
        assert_eq!(record.len(), 6 + 2 + sps.len() + 1 + 2 + pps.len());
    }
}
