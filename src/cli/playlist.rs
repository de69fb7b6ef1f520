//! `--send-audio`: the WAV files, read and checked before anything starts, streamed to every
//! connected peer one after another on a thread of their own.
//!
//! Reading, resampling, framing and pacing are the library's ([`WavAudio`], [`AudioStream`]); this
//! module only decides when the files play (once the first peer is connected), shows progress on
//! a terminal, and owns the thread: [`Player`] cancels and joins it however the command ends, so
//! a signal stops the audio at once (the segment still ends with `SNDBRKS`).

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::thread::{Scope, ScopedJoinHandle};

use crossbeam_channel::Receiver;
use mmdagent_remote::{
    AudioProgress, AudioStream, AudioStreamHandle, AudioStreamOptions, AudioStreamState,
    AudioTarget, Error, Remote, WavAudio,
};

use crate::cli::failure::Failure;

/// The files given to `--send-audio`, in order, ready to stream.
pub struct Playlist {
    tracks: Vec<Track>,
}

/// One file of the playlist: its name, for messages, and its audio, framed as it will be sent.
struct Track {
    path: PathBuf,
    stream: AudioStream,
}

/// How the playlist ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaylistEnd {
    /// Every file was sent and has had time to play.
    Played,
    /// Cancelled (the command was stopped).
    Cancelled,
    /// Not all was sent; the message names the file and says why.
    Stopped(String),
}

impl Playlist {
    /// Reads every file now, so a bad one is an error naming it before anything connects; each is
    /// framed with `model` (`None`: the library's default, `0`) in `__AV_SETMODEL`.
    pub fn read(files: &[PathBuf], model: Option<&str>) -> Result<Playlist, Failure> {
        let mut options = AudioStreamOptions::default();
        if let Some(model) = model {
            options.model = Some(model.to_owned());
        }
        let mut tracks = Vec::with_capacity(files.len());
        for path in files {
            let wav = WavAudio::open(path).map_err(|error| match error {
                // A WAV error names the file already.
                Error::Wav(_) => Failure::Runtime(format!("--send-audio {error}")),
                error => Failure::Runtime(format!("--send-audio {}: {error}", path.display())),
            })?;
            let stream =
                AudioStream::new(wav.samples, options.clone()).map_err(|error| {
                    match (&error, model) {
                        (Error::InvalidMessage(_), Some(model)) => {
                            Failure::Usage(format!("--audio-model {model}: {error}"))
                        }
                        _ => Failure::Runtime(format!("--send-audio {}: {error}", path.display())),
                    }
                })?;
            tracks.push(Track {
                path: path.clone(),
                stream,
            });
        }
        Ok(Playlist { tracks })
    }
}

/// The playlist and the thread that plays it: not started, playing, or ended.
///
/// Dropping it cancels the audio and joins the thread, so no path out of the command's loop, a
/// panic included, leaves the thread streaming.
pub struct Player<'scope> {
    /// Not started yet; `None` once started, or when there is nothing to play.
    playlist: Option<Playlist>,
    /// Handles to every stream of the playlist, to cancel them all.
    handles: Vec<AudioStreamHandle>,
    thread: Option<ScopedJoinHandle<'scope, PlaylistEnd>>,
    /// Rung (disconnected) when the thread ends.
    done: Receiver<()>,
    ended: Option<PlaylistEnd>,
}

impl<'scope> Player<'scope> {
    /// A player for `playlist`; `None` plays nothing and is done at once.
    pub fn new(playlist: Option<Playlist>) -> Player<'scope> {
        let playlist = playlist.filter(|playlist| !playlist.tracks.is_empty());
        let handles = playlist
            .iter()
            .flat_map(|playlist| &playlist.tracks)
            .map(|track| track.stream.handle())
            .collect();
        Player {
            ended: playlist.is_none().then_some(PlaylistEnd::Played),
            playlist,
            handles,
            thread: None,
            done: crossbeam_channel::never(),
        }
    }

    /// Whether there is audio to play: then the command ends only once it is done.
    pub fn has_audio(&self) -> bool {
        !self.handles.is_empty()
    }

    /// Starts streaming to every connected peer, on a thread of `scope`, unless started already.
    pub fn start<'env>(&mut self, scope: &'scope Scope<'scope, 'env>, remote: &'scope Remote) {
        let Some(playlist) = self.playlist.take() else {
            return;
        };
        let (ring, done) = crossbeam_channel::bounded::<()>(0);
        let spawned = std::thread::Builder::new()
            .name("send-audio".to_owned())
            .spawn_scoped(scope, move || {
                let _ring_when_done = ring;
                play(playlist, remote)
            });
        match spawned {
            Ok(thread) => {
                self.thread = Some(thread);
                self.done = done;
            }
            Err(error) => {
                self.ended = Some(PlaylistEnd::Stopped(format!(
                    "--send-audio: cannot start a thread to send the audio: {error}"
                )))
            }
        }
    }

    /// Disconnected when the thread has ended, for the command's loop to wait on beside its other
    /// channels; then call [`ended`](Self::ended). Never before the thread starts, or once joined.
    pub fn done(&self) -> Receiver<()> {
        if self.thread.is_some() {
            self.done.clone()
        } else {
            crossbeam_channel::never()
        }
    }

    /// Joins the thread once [`done`](Self::done) has disconnected.
    pub fn ended(&mut self) {
        self.join();
    }

    /// Whether all the audio has been played (or there was none), or the playlist has stopped.
    pub fn is_done(&self) -> bool {
        self.ended.is_some()
    }

    /// Cancels what is left, waits for the thread, and says how the playlist ended (`None`:
    /// never started).
    pub fn stop(mut self) -> Option<PlaylistEnd> {
        self.cancel_and_join();
        self.ended.take()
    }

    fn cancel_and_join(&mut self) {
        for handle in &self.handles {
            handle.cancel();
        }
        self.join();
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.ended = Some(thread.join().unwrap_or_else(|_| {
                PlaylistEnd::Stopped("--send-audio: the thread sending the audio panicked".into())
            }));
        }
    }
}

impl Drop for Player<'_> {
    fn drop(&mut self) {
        self.cancel_and_join();
    }
}

/// Streams each file in turn to every connected peer; stops at the first that is cancelled or
/// does not reach the end.
fn play(playlist: Playlist, remote: &Remote) -> PlaylistEnd {
    let show_progress = io::stderr().is_terminal();
    for mut track in playlist.tracks {
        let name = track.path.display().to_string();
        let mut progress_line = ProgressLine::new(&name, show_progress);
        let sent = track
            .stream
            .send(remote, AudioTarget::AllPeers, |progress| {
                progress_line.show(progress)
            });
        progress_line.finish();
        let progress = match sent {
            Ok(progress) => progress,
            Err(error) => return PlaylistEnd::Stopped(format!("--send-audio {name}: {error}")),
        };
        let how_far = format!(
            "{:.1} s of {:.1} s",
            progress.sent_duration().as_secs_f64(),
            progress.total_duration().as_secs_f64()
        );
        match progress.state {
            AudioStreamState::Finished => log::info!("--send-audio {name}: played ({how_far})"),
            AudioStreamState::Cancelled => {
                log::info!("--send-audio {name}: stopped after {how_far}");
                return PlaylistEnd::Cancelled;
            }
            AudioStreamState::NoPeers => {
                return PlaylistEnd::Stopped(format!(
                    "--send-audio {name}: stopped after {how_far}: no peer was connected"
                ))
            }
            state => {
                return PlaylistEnd::Stopped(format!(
                    "--send-audio {name}: stopped after {how_far} ({state:?})"
                ))
            }
        }
    }
    PlaylistEnd::Played
}

/// One line of standard error, rewritten in place as the audio is sent: for a terminal only.
struct ProgressLine<'a> {
    name: &'a str,
    shown: bool,
    enabled: bool,
    /// Tenths of a second last shown, so the line is written ten times a second at most.
    last_tenths: Option<u64>,
}

impl<'a> ProgressLine<'a> {
    fn new(name: &'a str, enabled: bool) -> Self {
        ProgressLine {
            name,
            shown: false,
            enabled,
            last_tenths: None,
        }
    }

    fn show(&mut self, progress: &AudioProgress) {
        let tenths = progress.sent_duration().as_millis() as u64 / 100;
        if !self.enabled || self.last_tenths == Some(tenths) {
            return;
        }
        self.last_tenths = Some(tenths);
        self.shown = true;
        let mut stderr = io::stderr().lock();
        let _ = write!(
            stderr,
            "\r{}: {:.1} s of {:.1} s sent",
            self.name,
            progress.sent_duration().as_secs_f64(),
            progress.total_duration().as_secs_f64()
        );
        let _ = stderr.flush();
    }

    fn finish(&mut self) {
        if self.shown {
            eprintln!();
            self.shown = false;
        }
    }
}
