//! One console session: a tokio task that owns the SSH terminal's output, keeps it numbered in a
//! [`Ring`], records it, and ends the session (idle timeout, abandoned, exited...); and the
//! [`ConsoleAttachment`] a client connection uses to type, resize and read.
//!
//! The output path is "pull": the session task appends to the ring and bumps a `watch` version;
//! the attached connection wakes up, copies what it has not sent yet and sends it. Replay after a
//! reconnect is the same path starting from an older offset. Input goes straight from the
//! connection to the SSH channel. No session has an OS thread or a blocking-pool job of its own.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wintermute_api::console::{ConsoleEndReason, CONSOLE_WINDOW_BYTES};
use wintermute_ssh::{TerminalEvent, TerminalExit, TerminalInput, TerminalOutput};

use super::recorder::Recorder;
use super::ring::Ring;

/// The most output one frame to the client carries.
const MAX_FRAME: usize = 256 * 1024;
/// The most output gathered from the instance before it is handed on.
const MAX_BURST: usize = 64 * 1024;

/// What the session task is told by the connections.
pub(crate) enum Command {
    /// The attachment of this generation went away.
    Detached(u64),
    Resized {
        cols: u32,
        rows: u32,
    },
    Close,
}

/// How a session was set up.
pub(crate) struct SessionParams {
    pub id: i64,
    pub user_id: i64,
    pub instance_id: i64,
    pub resume_token: String,
    pub recording: Option<Recorder>,
    pub idle: Option<Duration>,
    pub grace: Duration,
}

/// What the session task and the connections share.
pub(crate) struct Shared {
    pub id: i64,
    pub user_id: i64,
    pub instance_id: i64,
    pub resume_token: String,
    pub recording: bool,
    pub idle: Option<Duration>,
    pub grace: Duration,
    pub(crate) input: TerminalInput,
    state: Mutex<State>,
    /// Bumped on every change a connection may care about (output, exit, end, take-over).
    changed: watch::Sender<u64>,
    /// Wakes the session task when acknowledgements or sends made room.
    room: Notify,
    commands: mpsc::UnboundedSender<Command>,
    started: Instant,
    /// Milliseconds after `started` of the last input or output.
    last_activity_ms: AtomicI64,
    pub(crate) bytes_in: AtomicU64,
}

#[derive(Default)]
struct State {
    ring: Ring,
    /// The highest offset a client acknowledged.
    acked: u64,
    /// Whether the client acknowledges (then unacknowledged bytes are kept, however many).
    acking: bool,
    /// The highest offset sent to a client.
    sent: u64,
    /// Generation of the attached connection; 0 when none.
    attached: u64,
    generations: u64,
    exit: Option<TerminalExit>,
    ended: Option<ConsoleEndReason>,
}

impl State {
    /// Whether the task may read more output from the instance.
    fn has_room(&self) -> bool {
        let floor = if self.acking { self.acked } else { self.sent };
        self.ring.end().saturating_sub(floor) < CONSOLE_WINDOW_BYTES
    }

    fn append(&mut self, data: &[u8]) {
        self.ring.push(data);
        if self.acking {
            self.ring.forget_before(self.acked);
            self.ring.keep_last(2 * CONSOLE_WINDOW_BYTES);
        } else {
            self.ring.keep_last(CONSOLE_WINDOW_BYTES);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; carry on with it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn touch(&self) {
        let ms = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.last_activity_ms.store(ms, Ordering::Relaxed);
    }

    fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub(crate) fn ended(&self) -> Option<ConsoleEndReason> {
        self.lock().ended
    }

    /// Attaches a new connection, which takes the session over from any other; replay starts at
    /// `offset` (or the oldest byte kept).
    pub(crate) fn attach(self: &Arc<Self>, offset: u64) -> ConsoleAttachment {
        let mut st = self.lock();
        st.generations += 1;
        let generation = st.generations;
        st.attached = generation;
        let end = st.ring.end();
        let want = offset.min(end);
        let start = want.max(st.ring.base());
        // Bytes before `want` were received: acknowledged, whether or not the client says so.
        st.acked = st.acked.max(want);
        st.sent = start;
        drop(st);
        self.bump();
        self.room.notify_one();
        ConsoleAttachment {
            session_id: self.id,
            resume_token: self.resume_token.clone(),
            offset: start,
            missed: start - want,
            recording: self.recording,
            reconnect_grace: self.grace,
            idle_timeout: self.idle,
            shared: self.clone(),
            generation,
            next_offset: start,
            exit_sent: false,
            rx: self.changed.subscribe(),
        }
    }
}

/// What a client connection gets from [`ConsoleAttachment::next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleOutput {
    /// Output bytes, in order, without gaps.
    Data(Bytes),
    /// The remote process ended with this status. Output may still follow.
    Exit(TerminalExit),
    /// The session is over (everything was sent).
    Ended(ConsoleEndReason),
    /// Another connection took the session over.
    Replaced,
}

/// A client connection's handle on a console session. Dropping it detaches: the session waits
/// for a reconnect for its grace period.
pub struct ConsoleAttachment {
    pub session_id: i64,
    pub resume_token: String,
    /// Offset of the first byte [`ConsoleAttachment::next`] returns.
    pub offset: u64,
    /// Bytes asked for that are no longer kept.
    pub missed: u64,
    pub recording: bool,
    pub reconnect_grace: Duration,
    pub idle_timeout: Option<Duration>,
    shared: Arc<Shared>,
    generation: u64,
    next_offset: u64,
    exit_sent: bool,
    rx: watch::Receiver<u64>,
}

impl ConsoleAttachment {
    /// Waits for the next output (or the end). Cancel-safe: dropping the future loses nothing.
    pub async fn next(&mut self) -> ConsoleOutput {
        loop {
            self.rx.borrow_and_update();
            {
                let mut st = self.shared.lock();
                if st.attached != self.generation {
                    return ConsoleOutput::Replaced;
                }
                if let Some((start, bytes)) = st.ring.read(self.next_offset, MAX_FRAME) {
                    // `start` is later than asked only when unacknowledged bytes were dropped
                    // for a client that does not acknowledge; it cannot be behind.
                    self.next_offset = start + bytes.len() as u64;
                    st.sent = st.sent.max(self.next_offset);
                    let room = !st.acking;
                    drop(st);
                    if room {
                        self.shared.room.notify_one();
                    }
                    return ConsoleOutput::Data(Bytes::from(bytes));
                }
                if let (Some(exit), false) = (&st.exit, self.exit_sent) {
                    self.exit_sent = true;
                    return ConsoleOutput::Exit(exit.clone());
                }
                if let Some(reason) = st.ended {
                    return ConsoleOutput::Ended(reason);
                }
            }
            if self.rx.changed().await.is_err() {
                return ConsoleOutput::Ended(ConsoleEndReason::ConnectionLost);
            }
        }
    }

    /// The input side, for a task of its own (so typing never waits for output to be sent).
    pub fn controls(&self) -> ConsoleControls {
        ConsoleControls { shared: self.shared.clone(), generation: self.generation }
    }
}

/// Typing, resizing, acknowledging and closing: the input side of a [`ConsoleAttachment`].
#[derive(Clone)]
pub struct ConsoleControls {
    shared: Arc<Shared>,
    generation: u64,
}

impl ConsoleControls {
    /// Sends typed bytes to the instance. Waits while the instance does not read its input.
    pub async fn input(&self, data: Bytes) -> Result<(), wintermute_ssh::SshError> {
        self.shared.bytes_in.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.shared.touch();
        self.shared.input.write(data).await
    }

    /// The client's window changed size.
    pub async fn resize(&self, cols: u32, rows: u32) -> Result<(), wintermute_ssh::SshError> {
        self.shared.touch();
        let _ = self.shared.commands.send(Command::Resized { cols, rows });
        self.shared.input.resize(cols, rows).await
    }

    /// End of input.
    pub async fn eof(&self) -> Result<(), wintermute_ssh::SshError> {
        self.shared.input.eof().await
    }

    /// The client received everything before `offset`.
    pub fn ack(&self, offset: u64) {
        let mut st = self.shared.lock();
        if st.attached != self.generation {
            return;
        }
        let offset = offset.min(st.sent);
        st.acking = true;
        if offset > st.acked {
            st.acked = offset;
            st.ring.forget_before(offset);
            drop(st);
            self.shared.room.notify_one();
        }
    }

    /// Ends the session now.
    pub fn close(&self) {
        let _ = self.shared.commands.send(Command::Close);
    }
}

impl Drop for ConsoleAttachment {
    fn drop(&mut self) {
        let _ = self.shared.commands.send(Command::Detached(self.generation));
    }
}

/// What the session task reports when it ends.
pub(crate) struct Ending {
    pub reason: ConsoleEndReason,
    pub exit: Option<TerminalExit>,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub recording_bytes: u64,
}

/// Creates the shared state; [`run`] then drives it.
pub(crate) fn new_shared(
    params: &SessionParams,
    input: TerminalInput,
) -> (Arc<Shared>, mpsc::UnboundedReceiver<Command>) {
    let (commands, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        id: params.id,
        user_id: params.user_id,
        instance_id: params.instance_id,
        resume_token: params.resume_token.clone(),
        recording: params.recording.is_some(),
        idle: params.idle,
        grace: params.grace,
        input,
        state: Mutex::new(State::default()),
        changed: watch::channel(0).0,
        room: Notify::new(),
        commands,
        started: Instant::now(),
        last_activity_ms: AtomicI64::new(0),
        bytes_in: AtomicU64::new(0),
    });
    (shared, rx)
}

/// The session task: reads the instance's output until the session ends, then says why (the
/// caller records it, then calls [`finish`]).
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut output: TerminalOutput,
    mut commands: mpsc::UnboundedReceiver<Command>,
    recorder: Option<Recorder>,
    shutdown: CancellationToken,
) -> Ending {
    let id = shared.id;
    let mut detached_since: Option<Instant> = Some(Instant::now());
    let mut bytes_out = 0u64;
    let mut exit = None;
    let reason = loop {
        let room = shared.lock().has_room();
        let deadline = next_deadline(&shared, detached_since);
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break ConsoleEndReason::CoreShutdown,
            cmd = commands.recv() => match cmd {
                Some(Command::Detached(generation)) => {
                    let mut st = shared.lock();
                    if st.attached == generation {
                        st.attached = 0;
                        detached_since = Some(Instant::now());
                    }
                }
                Some(Command::Resized { cols, rows }) => {
                    if let Some(r) = &recorder {
                        r.resize(id, shared.seconds(), cols, rows).await;
                    }
                }
                Some(Command::Close) => break ConsoleEndReason::ClosedByUser,
                // Unreachable: `shared` holds a sender.
                None => break ConsoleEndReason::Abandoned,
            },
            event = output.next(), if room => match event {
                TerminalEvent::Output(first) => {
                    let mut burst = first;
                    // Gather what already arrived into one chunk: fewer frames, fewer wake-ups.
                    let mut closed = false;
                    if burst.len() < MAX_BURST {
                        let mut gathered: Option<Vec<u8>> = None;
                        while gathered.as_ref().map_or(burst.len(), Vec::len) < MAX_BURST {
                            match output.try_next() {
                                Some(TerminalEvent::Output(more)) => {
                                    gathered.get_or_insert_with(|| burst.to_vec()).extend_from_slice(&more);
                                }
                                Some(TerminalEvent::Exit(e)) => {
                                    exit = Some(e);
                                    break;
                                }
                                Some(TerminalEvent::Closed) => {
                                    closed = true;
                                    break;
                                }
                                None => break,
                            }
                        }
                        if let Some(g) = gathered {
                            burst = Bytes::from(g);
                        }
                    }
                    bytes_out += burst.len() as u64;
                    shared.touch();
                    {
                        let mut st = shared.lock();
                        st.append(&burst);
                        if exit.is_some() {
                            st.exit = exit.clone();
                        }
                    }
                    shared.bump();
                    if let Some(r) = &recorder {
                        r.output(id, shared.seconds(), burst).await;
                    }
                    if closed {
                        break ConsoleEndReason::Exited;
                    }
                }
                TerminalEvent::Exit(e) => {
                    exit = Some(e.clone());
                    shared.lock().exit = Some(e);
                    shared.bump();
                }
                TerminalEvent::Closed => break ConsoleEndReason::Exited,
            },
            _ = shared.room.notified(), if !room => {}
            _ = tokio::time::sleep_until(deadline) => {
                let now = Instant::now();
                if detached_since.is_some_and(|t| now >= t + shared.grace) && shared.lock().attached == 0 {
                    break ConsoleEndReason::Abandoned;
                }
                if shared.idle.is_some_and(|idle| now >= idle_deadline(&shared, idle)) {
                    break ConsoleEndReason::IdleTimeout;
                }
            }
        }
        // A (re)attachment clears the grace timer.
        if detached_since.is_some() && shared.lock().attached != 0 {
            detached_since = None;
        }
    };
    // A shell that exited without a status but the connection went: say so.
    let reason =
        if reason == ConsoleEndReason::Exited && exit.is_none() { ConsoleEndReason::ConnectionLost } else { reason };
    shared.input.close().await;
    let recording_bytes = match &recorder {
        Some(r) => r.finish(id).await,
        None => 0,
    };
    Ending { reason, exit, bytes_out, bytes_in: shared.bytes_in.load(Ordering::Relaxed), recording_bytes }
}

fn idle_deadline(shared: &Shared, idle: Duration) -> Instant {
    let last = Duration::from_millis(u64::try_from(shared.last_activity_ms.load(Ordering::Relaxed)).unwrap_or(0));
    shared.started + last + idle
}

/// When the task must next look at the clock: end of the grace period or of the idle time.
fn next_deadline(shared: &Shared, detached_since: Option<Instant>) -> Instant {
    let far = Instant::now() + Duration::from_secs(24 * 3600);
    let grace = detached_since.map_or(far, |t| t + shared.grace);
    let idle = shared.idle.map_or(far, |idle| idle_deadline(shared, idle));
    grace.min(idle)
}

/// Tells the connections that the session is over (after its end was recorded), so a client that
/// sees the end can rely on the session's record and recording being complete.
pub(crate) fn finish(shared: &Shared, reason: ConsoleEndReason) {
    shared.lock().ended = Some(reason);
    shared.bump();
}
