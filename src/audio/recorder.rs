//! Saving the audio peers stream as WAV files: one file per segment per peer.
//!
//! Peers send raw audio (16 kHz, 16-bit signed little-endian, mono) in chunks, with controls between
//! them. A segment ends at `SNDBRKS`, at a change between stream and file mode, or when the peer
//! disconnects; [`AudioRecorder::finish`] ends every open segment. This module only writes files; it
//! learns what happened from the [`Event`]s the host receives.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::SAMPLE_RATE;
use crate::codec::{AudioControl, Item};
use crate::hub::{Event, PeerId};

/// Bytes per sample: 16-bit, mono.
const BYTES_PER_SAMPLE: u16 = 2;
const HEADER_LENGTH: u32 = 44;

/// Writes each peer's audio segments as WAV files in a folder, named `peer<id>-<n>.wav`.
///
/// ```no_run
/// use mmdagent_remote::{AudioRecorder, Config, Remote};
///
/// # let config = Config::default();
/// let remote = Remote::start(&config)?;
/// let mut recorder = AudioRecorder::new("audio")?;
/// for event in remote.events() {
///     if let Some(saved) = recorder.record(&event)? {
///         println!("saved {} samples to {}", saved.samples, saved.path.display());
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AudioRecorder {
    folder: PathBuf,
    peers: HashMap<PeerId, PeerAudio>,
}

/// A finished WAV file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SavedSegment {
    /// The peer whose audio it is.
    pub peer: PeerId,
    /// Where it was written.
    pub path: PathBuf,
    /// How many samples it holds.
    pub samples: u64,
}

#[derive(Debug, Default)]
struct PeerAudio {
    mode: Option<AudioControl>,
    open: Option<Segment>,
    written: u32,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    file: BufWriter<File>,
    data_bytes: u64,
}

impl AudioRecorder {
    /// A recorder writing into `folder`, which is created if missing.
    pub fn new(folder: impl AsRef<Path>) -> io::Result<Self> {
        std::fs::create_dir_all(folder.as_ref())?;
        Ok(AudioRecorder {
            folder: folder.as_ref().to_path_buf(),
            peers: HashMap::new(),
        })
    }

    /// Takes note of one event: audio is appended to the peer's open segment (opening one if
    /// needed), and a segment that ends is finished and returned.
    pub fn record(&mut self, event: &Event) -> io::Result<Option<SavedSegment>> {
        match event {
            Event::Item {
                peer,
                item: Item::AudioChunk(bytes),
            } => {
                let folder = self.folder.clone();
                let audio = self.peers.entry(*peer).or_default();
                if audio.open.is_none() {
                    audio.open = Some(Segment::create_next(&folder, *peer, &mut audio.written)?);
                }
                if let Some(segment) = &mut audio.open {
                    segment.append(bytes)?;
                }
                Ok(None)
            }
            Event::Item {
                peer,
                item: Item::AudioControl(control),
            } => {
                let audio = self.peers.entry(*peer).or_default();
                let ends = match control {
                    AudioControl::Break => true,
                    mode => {
                        // Stream mode until told otherwise, as the agent starts.
                        let changed = audio.mode.unwrap_or(AudioControl::Stream) != *mode;
                        audio.mode = Some(*mode);
                        changed
                    }
                };
                if ends {
                    self.end(*peer)
                } else {
                    Ok(None)
                }
            }
            Event::Disconnected { peer, .. } => {
                let saved = self.end(*peer);
                self.peers.remove(peer);
                saved
            }
            _ => Ok(None),
        }
    }

    /// Finishes every open segment, as at shutdown.
    pub fn finish(&mut self) -> io::Result<Vec<SavedSegment>> {
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        let mut saved = Vec::new();
        for peer in peers {
            saved.extend(self.end(peer)?);
        }
        Ok(saved)
    }

    fn end(&mut self, peer: PeerId) -> io::Result<Option<SavedSegment>> {
        let Some(segment) = self
            .peers
            .get_mut(&peer)
            .and_then(|audio| audio.open.take())
        else {
            return Ok(None);
        };
        let (path, samples) = segment.finish()?;
        Ok(Some(SavedSegment {
            peer,
            path,
            samples,
        }))
    }
}

impl Segment {
    /// Creates the next file for `peer` in `folder`, `peer<id>-<n>.wav` with `n` after `written`
    /// and after any file already there, so no earlier recording is overwritten.
    fn create_next(folder: &Path, peer: PeerId, written: &mut u32) -> io::Result<Self> {
        loop {
            *written += 1;
            let path = folder.join(format!("peer{}-{:04}.wav", peer.get(), written));
            match File::options().write(true).create_new(true).open(&path) {
                Ok(file) => return Segment::start(path, file),
                Err(error)
                    if error.kind() == io::ErrorKind::AlreadyExists && *written < u32::MAX =>
                {
                    continue
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn start(path: PathBuf, file: File) -> io::Result<Self> {
        let mut file = BufWriter::new(file);
        write_header(&mut file, 0)?;
        Ok(Segment {
            path,
            file,
            data_bytes: 0,
        })
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.data_bytes += bytes.len() as u64;
        Ok(())
    }

    /// Writes the real sizes into the header. A last odd byte (half a sample) is cut off.
    fn finish(self) -> io::Result<(PathBuf, u64)> {
        let data_bytes = self.data_bytes - self.data_bytes % u64::from(BYTES_PER_SAMPLE);
        let data_length = u32::try_from(data_bytes).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "a segment over 4 GiB does not fit in a WAV file",
            )
        })?;
        let mut file = self
            .file
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.set_len(u64::from(HEADER_LENGTH) + data_bytes)?;
        file.seek(SeekFrom::Start(0))?;
        write_header(&mut file, data_length)?;
        file.flush()?;
        Ok((self.path, data_bytes / u64::from(BYTES_PER_SAMPLE)))
    }
}

/// The 44-byte header of a PCM WAV file holding `data_length` bytes of samples.
fn write_header(out: &mut impl Write, data_length: u32) -> io::Result<()> {
    let byte_rate = SAMPLE_RATE * u32::from(BYTES_PER_SAMPLE);
    out.write_all(b"RIFF")?;
    out.write_all(&(HEADER_LENGTH - 8 + data_length).to_le_bytes())?;
    out.write_all(b"WAVEfmt ")?;
    out.write_all(&16u32.to_le_bytes())?; // size of the fmt chunk
    out.write_all(&1u16.to_le_bytes())?; // PCM
    out.write_all(&1u16.to_le_bytes())?; // mono
    out.write_all(&SAMPLE_RATE.to_le_bytes())?;
    out.write_all(&byte_rate.to_le_bytes())?;
    out.write_all(&BYTES_PER_SAMPLE.to_le_bytes())?; // block align
    out.write_all(&16u16.to_le_bytes())?; // bits per sample
    out.write_all(b"data")?;
    out.write_all(&data_length.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::DisconnectReason;

    fn chunk(peer: u64, bytes: &[u8]) -> Event {
        Event::Item {
            peer: PeerId(peer),
            item: Item::AudioChunk(bytes.to_vec().into()),
        }
    }

    fn control(peer: u64, control: AudioControl) -> Event {
        Event::Item {
            peer: PeerId(peer),
            item: Item::AudioControl(control),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let folder = std::env::temp_dir().join(format!("mdr-audio-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        folder
    }

    #[test]
    fn segments_end_at_a_break_a_change_of_mode_and_a_disconnect() {
        let folder = scratch("segments");
        let mut recorder = AudioRecorder::new(&folder).unwrap();
        let mut saved = Vec::new();
        for event in [
            control(1, AudioControl::File),
            chunk(1, &[1, 0, 2, 0]),
            chunk(2, &[9, 9]),
            chunk(1, &[3, 0]),
            control(1, AudioControl::Break),
            chunk(1, &[4, 0]),
            control(1, AudioControl::Stream),
            chunk(1, &[5, 0, 6]),
            Event::Disconnected {
                peer: PeerId(1),
                address: "127.0.0.1:1".parse().unwrap(),
                transport: crate::hub::Transport::TcpServer,
                reason: DisconnectReason::ClosedByPeer,
            },
        ] {
            saved.extend(recorder.record(&event).unwrap());
        }
        saved.extend(recorder.finish().unwrap());
        let summary: Vec<(u64, String, u64)> = saved
            .iter()
            .map(|segment| {
                let name = segment
                    .path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                (segment.peer.get(), name, segment.samples)
            })
            .collect();
        assert_eq!(
            summary,
            [
                (1, "peer1-0001.wav".to_owned(), 3),
                (1, "peer1-0002.wav".to_owned(), 1),
                (1, "peer1-0003.wav".to_owned(), 1),
                (2, "peer2-0001.wav".to_owned(), 1),
            ]
        );
        let first = std::fs::read(folder.join("peer1-0001.wav")).unwrap();
        assert_eq!(first.len(), 44 + 6);
        assert_eq!(&first[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(first[4..8].try_into().unwrap()), 36 + 6);
        assert_eq!(
            u32::from_le_bytes(first[24..28].try_into().unwrap()),
            16_000
        );
        assert_eq!(u32::from_le_bytes(first[40..44].try_into().unwrap()), 6);
        assert_eq!(&first[44..], &[1, 0, 2, 0, 3, 0]);
        let odd = std::fs::read(folder.join("peer1-0003.wav")).unwrap();
        assert_eq!(odd.len(), 44 + 2, "half a sample is cut off");
        std::fs::remove_dir_all(folder).unwrap();
    }

    #[test]
    fn the_first_file_mode_after_default_stream_audio_starts_a_segment() {
        let folder = scratch("default-mode");
        let mut recorder = AudioRecorder::new(&folder).unwrap();
        let mut saved = Vec::new();
        for event in [
            chunk(1, &[1, 0]),
            control(1, AudioControl::File),
            chunk(1, &[2, 0]),
            control(1, AudioControl::Break),
        ] {
            saved.extend(recorder.record(&event).unwrap());
        }
        let samples: Vec<u64> = saved.iter().map(|segment| segment.samples).collect();
        assert_eq!(samples, [1, 1]);
        std::fs::remove_dir_all(folder).unwrap();
    }

    #[test]
    fn a_second_recorder_in_the_same_folder_keeps_the_first_ones_files() {
        let folder = scratch("twice");
        for _ in 0..2 {
            let mut recorder = AudioRecorder::new(&folder).unwrap();
            recorder.record(&chunk(1, &[7, 0])).unwrap();
            recorder.finish().unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["peer1-0001.wav", "peer1-0002.wav"]);
        std::fs::remove_dir_all(folder).unwrap();
    }

    #[test]
    fn controls_without_audio_write_nothing() {
        let folder = scratch("empty");
        let mut recorder = AudioRecorder::new(&folder).unwrap();
        for event in [
            control(1, AudioControl::Stream),
            control(1, AudioControl::Break),
            control(1, AudioControl::File),
        ] {
            assert_eq!(recorder.record(&event).unwrap(), None);
        }
        assert!(recorder.finish().unwrap().is_empty());
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
        std::fs::remove_dir_all(folder).unwrap();
    }
}
