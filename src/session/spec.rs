//! `mmm run`: the spec policy over the session engine, and the run over spec files.
//!
//! One spec is one session. Its one attempt edits through the shared
//! [`Session::edit_until_green`]; once the checks (the project's, then the spec's own)
//! pass, a fresh request asks the model to judge every criterion (`submit_verdict`), and
//! unmet criteria go back into the same conversation for another round. Success is one
//! commit with the criteria ticked in the spec file; failure is rolled back by the engine.
//! `--resume` runs the spec afresh in the same session (its usage and limits carry on).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::checks;
use super::engine::{self, Attempt, Change, ChangeKind, Env, NewSession, Policy, Session};
use super::events::{Event, Observer};
use super::improve::summary_line;
use super::prompts::{self, ProjectContext};
use super::setup::{self, OneCall};
use super::stop::{self, StopReason};
use super::verdict::{self, SUBMIT_VERDICT};
use crate::agent::Conversation;
use crate::error::{CliError, InSession};
use crate::git::Git;
use crate::llm::cache::CachePlan;
use crate::llm::{MessagesRequest, Model, Pricing, SystemBlock, ToolChoice};
use crate::redact::redact;
use crate::settings::session::SessionConfig;
use crate::spec::{self, Spec};
use crate::state::session::{CriterionRecord, IterationRecord, Outcome, SessionKind, SessionStatus, SpecRecord};
use crate::state::summary::{ProjectState, SpecState, SpecStatus};
use crate::state::{self, Layout};

/// Most characters of the change shown to the verifier.
const MAX_CHANGE_CHARS: usize = 60_000;

/// What `mmm run` was asked to do, beyond the settings.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// A spec file or a directory of them, relative to the directory mmm runs in.
    pub path: Option<PathBuf>,
    pub only: Option<String>,
    pub keep_going: bool,
    pub force: bool,
    pub allow_dirty: bool,
    /// `Some(None)`: resume the last session; `Some(Some(id))`: that one.
    pub resume: Option<Option<String>>,
}

/// Where and how the specs run: the work tree, who watches, the token that cancels, and
/// the model (made only when a spec actually runs, so skipping needs no key).
pub struct Runtime<'a> {
    /// The directory relative spec paths are resolved against.
    pub cwd: PathBuf,
    pub git: Git,
    pub observer: Arc<dyn Observer>,
    pub cancel: CancellationToken,
    pub model: &'a (dyn Fn() -> anyhow::Result<Arc<dyn Model>> + Sync),
}

/// What a run did: the sessions it ran (for reports and pushes), and how it ends.
pub struct RunOutcome {
    pub sessions: Vec<String>,
    /// The exit: `Ok` when every spec run was implemented, else the error to report.
    pub exit: anyhow::Result<()>,
}

/// Runs `mmm run`. An `Err` means nothing ran (bad usage, a failed preflight); otherwise
/// the outcome lists the sessions, and its `exit` says how the run ends.
pub async fn run(
    rt: &Runtime<'_>,
    config: &SessionConfig,
    pricing: &Pricing,
    opts: &RunOptions,
) -> anyhow::Result<RunOutcome> {
    let git = &rt.git;
    let layout = Layout::new(git.root());
    if let Some(id) = &opts.resume {
        return resume(rt, config, pricing, &layout, id.as_deref()).await;
    }
    let typed = opts.path.clone().context("a spec path is required")?;
    let path = rt.cwd.join(&typed);
    let specs = if path.is_dir() {
        spec::load_dir_in(&rt.cwd, &typed)?
    } else if path.is_file() {
        vec![spec::load_in(&rt.cwd, &typed)?]
    } else {
        return Err(CliError::usage(format!("no spec file or directory at {}", typed.display()))
            .with_hint("`mmm specs` lists the specs; `mmm spec new \"Title\"` writes one")
            .into());
    };
    let ordered = if path.is_dir() { spec::order(&specs)? } else { specs.iter().collect() };
    if let Some(only) = &opts.only
        && !specs.iter().any(|s| &s.id == only)
    {
        return Err(CliError::usage(format!("no spec with the id `{only}` in {}", typed.display()))
            .with_hint("`mmm specs` lists the ids")
            .into());
    }
    for spec in &specs {
        relative(git, &rt.cwd.join(&spec.path))?;
    }

    let mut model: Option<Arc<dyn Model>> = None;
    let mut api_checked = false;
    let mut failed = Vec::new();
    let mut sessions = Vec::new();
    for spec in ordered.into_iter().filter(|s| opts.only.as_ref().is_none_or(|only| only == &s.id)) {
        let project_state = ProjectState::load_or_default(&layout.state_file())?;
        let status = project_state.specs.get(&spec.id).map(|s| s.status).unwrap_or_default();
        if status == SpecStatus::Done && !opts.force {
            rt.observer.event("", &Event::SpecSkipped { spec: spec.id.clone(), status });
            continue;
        }
        if let Some(message) = waiting_on(spec, &project_state).filter(|_| !opts.force) {
            failed.push(Failed { spec: spec.id.clone(), session: None, message, error: None });
            if !opts.keep_going {
                break;
            }
            continue;
        }
        let model = match &model {
            Some(m) => m.clone(),
            None => model.insert((rt.model)()?).clone(),
        };
        let dirty = dirty_besides(git, &rt.cwd, &specs)?;
        setup::preflight(git, &dirty, opts.allow_dirty, config.in_place)?;
        if !api_checked {
            setup::check_models(model.as_ref(), pricing, config).await?;
            api_checked = true;
        }
        // Analyzed afresh for each spec: the specs before it may have changed the code.
        let project = setup::analyze(git.root(), config, true).await?;
        let mut settings = setup::session_settings(config, None, &project)?;
        settings.checks.extend(spec.validate.iter().cloned());
        setup::programs_resolve(&settings.checks)?;
        if let Some(n) = spec.max_iterations {
            settings.limits.max_iterations = n;
        }
        let price = setup::price_fn(pricing, &settings)?;
        let rel = relative(git, &rt.cwd.join(&spec.path))?;
        let new = NewSession {
            kind: SessionKind::Spec,
            branch_prefix: format!("spec-{}", spec.id),
            settings,
            dirty,
            spec: Some(SpecRecord {
                id: spec.id.clone(),
                title: spec.title.clone(),
                path: rel.clone(),
                criteria: Vec::new(),
                last_check_output: None,
            }),
            price,
        };
        let env = env(rt, model, config);
        let session = Session::start(env, project, new)?;
        let policy = SpecPolicy::new(spec.clone(), rel);
        let ended = one_spec(session, policy).await?;
        sessions.push(ended.session.clone());
        match ended.failure {
            None => {}
            Some(failure) if failure.interrupted() => {
                return Ok(RunOutcome { sessions, exit: Err(failure.into_error()) });
            }
            Some(failure) => {
                let fatal = failure.error.is_some();
                failed.push(failure);
                if !opts.keep_going || fatal {
                    break;
                }
            }
        }
    }
    Ok(RunOutcome { sessions, exit: failures(failed) })
}

fn env(rt: &Runtime<'_>, model: Arc<dyn Model>, config: &SessionConfig) -> Env {
    Env::new(rt.git.clone(), model, rt.observer.clone(), rt.cancel.clone(), config)
}

/// `mmm run --resume [ID]`: run an interrupted or failed spec session's spec again, in the
/// same session.
async fn resume(
    rt: &Runtime<'_>,
    config: &SessionConfig,
    pricing: &Pricing,
    layout: &Layout,
    id: Option<&str>,
) -> anyhow::Result<RunOutcome> {
    let mut record = setup::load_for_resume(layout, id, SessionKind::Spec)?;
    let previous_model = setup::switch_model(&mut record, config);
    let rel = record.spec.as_ref().map(|s| s.path.clone()).context("the session names no spec")?;
    let spec = spec::load(&rt.git.root().join(&rel))?;
    let price = setup::price_fn(pricing, &record.settings)?;
    let project = setup::analyze(rt.git.root(), config, true).await?;
    let model = (rt.model)()?;
    setup::check_resumed_models(model.as_ref(), &record.settings).await?;
    let session = Session::resume(env(rt, model, config), project, record, price, previous_model)?;
    let ended = one_spec(session, SpecPolicy::new(spec, rel)).await?;
    let exit = match ended.failure {
        None => Ok(()),
        Some(failure) if failure.interrupted() => Err(failure.into_error()),
        Some(failure) => failures(vec![failure]),
    };
    Ok(RunOutcome { sessions: vec![ended.session], exit })
}

/// How one spec's session ended.
struct Ended {
    session: String,
    failure: Option<Failed>,
}

/// A spec that was not implemented.
struct Failed {
    spec: String,
    /// `None` when the spec could not start (a dependency is not done).
    session: Option<String>,
    message: String,
    /// The error that ended the session, with its type (an API failure keeps its hint);
    /// for an interrupted session, the interruption.
    error: Option<anyhow::Error>,
}

impl Failed {
    fn interrupted(&self) -> bool {
        self.error
            .as_ref()
            .and_then(|e| e.downcast_ref::<CliError>())
            .is_some_and(|e| e.exit() == crate::Exit::Interrupted)
    }

    fn into_error(self) -> anyhow::Error {
        self.error.unwrap_or_else(|| anyhow::anyhow!(self.message))
    }
}

/// Runs one spec's session to its end.
async fn one_spec(session: Session, policy: SpecPolicy) -> anyhow::Result<Ended> {
    let path = policy.rel.clone();
    if policy.spec.criteria.is_empty() {
        session.warn(&format!(
            "{path} has no acceptance criteria: its goal is its title and text, checked by the checks alone"
        ));
    }
    session.emit(&Event::SpecStarted {
        spec: policy.spec.id.clone(),
        title: policy.spec.title.clone(),
        path,
        criteria: policy.criteria(),
    });
    let spec = policy.spec.id.clone();
    let finished = engine::drive(session, policy).await?;
    let record = finished.record;
    let session = record.id.clone();
    let failure = match (record.status, finished.error) {
        (SessionStatus::Completed, _) => None,
        (SessionStatus::Interrupted, _) => Some(Failed {
            spec,
            session: Some(session.clone()),
            message: "interrupted".into(),
            error: Some(
                CliError::interrupted("interrupted: the spec's changes were rolled back")
                    .with_hint(format!("resume with `mmm run --resume {session}`"))
                    .in_session(session.clone())
                    .into(),
            ),
        }),
        (_, error) => Some(Failed {
            spec,
            session: Some(session.clone()),
            message: record
                .iterations
                .last()
                .and_then(|i| i.error.clone())
                .or_else(|| record.stop_reason.as_ref().map(ToString::to_string))
                .unwrap_or_default(),
            error,
        }),
    };
    Ok(Ended { session, failure })
}

/// Why `spec` cannot run yet: the dependencies that are not done.
fn waiting_on(spec: &Spec, state: &ProjectState) -> Option<String> {
    let waiting: Vec<String> = spec
        .depends_on
        .iter()
        .filter(|d| state.specs.get(*d).is_none_or(|s| s.status != SpecStatus::Done))
        .map(|d| format!("`{d}`"))
        .collect();
    (!waiting.is_empty()).then(|| {
        format!(
            "it depends on {}, which {} not done",
            waiting.join(", "),
            if waiting.len() == 1 { "is" } else { "are" }
        )
    })
}

fn failures(mut failed: Vec<Failed>) -> anyhow::Result<()> {
    // An error that ended a session (an API failure) is reported as itself, with its hint.
    if let Some(i) = failed.iter().position(|f| f.error.is_some()) {
        let f = failed.swap_remove(i);
        let text = format!("spec `{}` was not implemented", f.spec);
        return Err(match f.session.clone() {
            Some(session) => f.into_error().context(InSession { session, text }),
            None => f.into_error().context(text),
        });
    }
    match failed.as_slice() {
        [] => Ok(()),
        [Failed { spec, session: Some(session), message, .. }] => {
            Err(CliError::failure(format!("spec `{spec}` was not implemented: {message}"))
                .with_hint(format!("see `mmm history {session}`; edit the spec, then `mmm run` it again"))
                .in_session(session.clone())
                .into())
        }
        [Failed { spec, session: None, message, .. }] => {
            Err(CliError::failure(format!("spec `{spec}` was not run: {message}"))
                .with_hint("run its dependencies first (`mmm run specs/` runs them in order), or pass --force")
                .into())
        }
        many => Err(CliError::failure(format!(
            "{} specs were not implemented: {}",
            many.len(),
            many.iter().map(|f| format!("`{}`", f.spec)).collect::<Vec<_>>().join(", ")
        ))
        .with_hint("`mmm specs` shows their status; `mmm history <session>` what went wrong")
        .into()),
    }
}

/// A spec's path relative to the repository root; a spec outside it is refused.
fn relative(git: &Git, path: &Path) -> anyhow::Result<String> {
    let absolute = path.canonicalize().with_context(|| format!("resolving {}", path.display()))?;
    let root = git.root().canonicalize().context("resolving the repository root")?;
    match absolute.strip_prefix(&root) {
        Ok(rel) => Ok(rel.to_string_lossy().into_owned()),
        Err(_) => Err(CliError::usage(format!("the spec {} is outside the repository", path.display()))
            .with_hint("specs live in the repository they change, e.g. in specs/")
            .into()),
    }
}

/// The user's uncommitted changes, leaving out the spec files themselves (a new spec may be
/// run before it is committed; the implementing commit then adds it).
fn dirty_besides(git: &Git, cwd: &Path, specs: &[Spec]) -> anyhow::Result<Vec<String>> {
    let spec_paths: Vec<String> = specs.iter().filter_map(|s| relative(git, &cwd.join(&s.path)).ok()).collect();
    Ok(setup::user_changes(git)?.into_iter().filter(|p| !spec_paths.contains(p)).collect())
}

/// How the editing rounds and verdicts of an attempt ended.
enum Tried {
    Done { change: Change, criteria: Vec<CriterionRecord> },
    Failed { change: Option<Change>, criteria: Vec<CriterionRecord>, message: String },
    Fatal(anyhow::Error),
}

/// The spec policy: one attempt per run, kept when the checks pass and the verifier finds
/// every criterion met.
pub struct SpecPolicy {
    spec: Spec,
    /// The spec file relative to the root.
    rel: String,
    attempted: bool,
    /// The verdict and the failing check output of the attempt, for the record.
    pending: Option<(Vec<CriterionRecord>, Option<Option<String>>)>,
}

impl SpecPolicy {
    pub fn new(spec: Spec, rel: String) -> Self {
        Self { spec, rel, attempted: false, pending: None }
    }

    fn criteria(&self) -> Vec<String> {
        self.spec.criteria.iter().map(|c| c.text.clone()).collect()
    }

    /// The editing rounds and verdicts, until every criterion is met or the rounds run out.
    async fn tries(&self, session: &Session, index: u32) -> anyhow::Result<Tried> {
        let settings = &session.record.settings;
        let mut tools = session.tools().await?;
        let criteria = self.criteria();
        let spec_text = redact(&prompts::spec_text(&self.spec.title, &self.spec.body, &criteria)).into_owned();
        let mut request = MessagesRequest::new(session.model_name(), settings.max_output_tokens);
        request.system = vec![SystemBlock::text(prompts::implement_system(&settings.checks, false))];
        request.tools = tools.definitions().into_iter().map(setup::tool_from_json).collect();
        let context = ProjectContext { summary: &session.project.summary, repo_map: &session.project.repo_map };
        let stable = format!("{}\n{spec_text}", prompts::project_context(&context));
        request.messages = vec![setup::first_message(&stable, prompts::SPEC_REQUEST)];
        let mut conversation = Conversation::laid_out(request, CachePlan::growing(1));

        let rounds = settings.limits.max_iterations.max(1);
        let mut verdict = Vec::new();
        let mut round = 1;
        loop {
            if let Some(reason) = limit_reached(session) {
                return Ok(Tried::Failed { change: None, criteria: verdict, message: reason.to_string() });
            }
            let mut change = session.edit_until_green(index, &mut conversation, &mut tools).await?;
            match std::mem::replace(&mut change.kind, ChangeKind::NoChange) {
                ChangeKind::Green => change.kind = ChangeKind::Green,
                ChangeKind::Fatal(error) => return Ok(Tried::Fatal(error)),
                kind => {
                    change.kind = kind;
                    let message = change.error.clone().unwrap_or_else(|| "the change did not pass the checks".into());
                    return Ok(Tried::Failed { change: Some(change), criteria: verdict, message });
                }
            }
            if criteria.is_empty() {
                return Ok(Tried::Done { change, criteria: verdict });
            }
            if let Some(reason) = limit_reached(session) {
                let message = format!("{reason} before the criteria were verified");
                return Ok(Tried::Failed { change: Some(change), criteria: verdict, message });
            }
            session.activity(Some(format!("#{index} verifying the criteria")));
            let judged = self.verify(session, index, &spec_text, &criteria, &change).await;
            session.activity(None);
            verdict = match judged? {
                Ok(v) => v,
                Err(setup::AskFailure { fatal: Some(error), .. }) => return Ok(Tried::Fatal(error)),
                Err(failure) => {
                    return Ok(Tried::Failed { change: Some(change), criteria: verdict, message: failure.message });
                }
            };
            session.emit(&Event::Verdict { iteration: index, round, criteria: verdict.clone() });
            let unmet: Vec<(u32, &str, &str)> =
                verdict.iter().filter(|c| !c.met).map(|c| (c.index, c.text.as_str(), c.evidence.as_str())).collect();
            if unmet.is_empty() {
                return Ok(Tried::Done { change, criteria: verdict });
            }
            if round == rounds {
                let message =
                    format!("{} of {} criteria still unmet after {rounds} round(s)", unmet.len(), criteria.len());
                return Ok(Tried::Failed { change: Some(change), criteria: verdict, message });
            }
            conversation.push_user_text(redact(&prompts::unmet_request(round, rounds, &unmet)).into_owned());
            round += 1;
        }
    }

    /// A fresh request asking the model to judge every criterion against the change.
    async fn verify(
        &self,
        session: &Session,
        index: u32,
        spec_text: &str,
        criteria: &[String],
        change: &Change,
    ) -> anyhow::Result<Result<Vec<CriterionRecord>, setup::AskFailure>> {
        let settings = &session.record.settings;
        let checks_text = redact(&checks::describe(&settings.checks, &change.results)).into_owned();
        let diff = redact(&describe_change(&session.git, &change.changed)?).into_owned();
        let mut request = MessagesRequest::new(session.model_name(), settings.max_output_tokens);
        request.system = vec![SystemBlock::text(prompts::VERIFY_SYSTEM)];
        request.tools = vec![setup::tool_from_json(verdict::submit_verdict_tool())];
        request.tool_choice = Some(ToolChoice::Auto { disable_parallel_tool_use: None });
        request.messages = vec![setup::first_message(spec_text, &prompts::verify_request(&diff, &checks_text))];
        let parse = |input: &serde_json::Value| verdict::parse_verdict(input, criteria);
        let call = OneCall {
            tool: SUBMIT_VERDICT,
            purpose: "judge the acceptance criteria",
            parse: &parse,
            nudge: prompts::VERDICT_NUDGE,
        };
        let conversation = Conversation::laid_out(request, CachePlan::one_call(1));
        Ok(session.ask_for_tool(index, "verdict", conversation, &call).await)
    }
}

impl Policy for SpecPolicy {
    /// One attempt per run: after it, the run stops, implemented or not.
    fn before_attempt(&mut self, session: &Session) -> Option<StopReason> {
        if !self.attempted {
            return None;
        }
        Some(match session.record.iterations.last() {
            Some(it) if it.outcome == Outcome::Committed => StopReason::Implemented { spec: self.spec.id.clone() },
            Some(it) => {
                StopReason::Error { message: it.error.clone().unwrap_or_else(|| "the spec was not implemented".into()) }
            }
            None => StopReason::Error { message: "the spec was not attempted".into() },
        })
    }

    async fn attempt(&mut self, session: &Session, index: u32) -> anyhow::Result<Attempt> {
        self.attempted = true;
        let mut it = session.new_iteration(index);
        it.outcome = Outcome::Failed;
        match self.tries(session, index).await? {
            Tried::Fatal(error) => Ok(Attempt::Fatal { error }),
            Tried::Done { change, criteria } => {
                let path = session.git.root().join(&self.rel);
                let original = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                // The spec as it is now: the change may have touched it.
                let current = spec::parse(&path, &original).unwrap_or_else(|_| self.spec.clone());
                state::write_atomic(&path, spec::tick(&original, &current).as_bytes())?;
                let mut paths = change.changed.clone();
                if !paths.contains(&self.rel) {
                    paths.push(self.rel.clone());
                }
                let message = format!(
                    "mmm: implement {} — {}\n\n{}\n\nMmm-Session: {}\n",
                    self.spec.id,
                    self.spec.title,
                    change.final_text.trim(),
                    session.id()
                );
                it.validation = checks::records(&change.results);
                it.fix_rounds = change.rounds;
                it.summary = summary_line(&change.final_text).or_else(|| Some(format!("implement {}", self.spec.id)));
                self.pending = Some((criteria, None));
                Ok(Attempt::Keep { it: Box::new(it), paths, message, checks: change.results })
            }
            Tried::Failed { change, criteria, message } => {
                it.outcome = match change.as_ref().map(|c| &c.kind) {
                    Some(ChangeKind::NoChange) => Outcome::NoChange,
                    Some(ChangeKind::RulesChanged) => Outcome::Failed,
                    _ => Outcome::RolledBack,
                };
                let mut output = None;
                if let Some(change) = &change {
                    it.summary = summary_line(&change.final_text);
                    it.validation = checks::records(&change.results);
                    it.fix_rounds = change.rounds;
                    let checks = &session.record.settings.checks;
                    output = Some(
                        change
                            .results
                            .iter()
                            .find(|r| !r.passed())
                            .map(|r| redact(&checks::describe(checks, std::slice::from_ref(r))).into_owned()),
                    );
                }
                self.pending = Some((criteria, output));
                it.error = Some(message);
                Ok(Attempt::Undo { it: Box::new(it) })
            }
        }
    }

    fn after_attempt(&mut self, record: &mut crate::state::session::SessionRecord) -> Option<StopReason> {
        if let (Some((criteria, output)), Some(spec)) = (self.pending.take(), record.spec.as_mut()) {
            spec.criteria = criteria;
            if let Some(output) = output {
                spec.last_check_output = output;
            }
        }
        None
    }

    /// The spec's status in `state.json` and the `spec_finished` event (not for an
    /// interrupted run, which `--resume` continues).
    fn finished(&mut self, session: &Session, reason: &StopReason) -> anyhow::Result<()> {
        if *reason == StopReason::Interrupted {
            return Ok(());
        }
        let record = &session.record;
        let done = matches!(reason, StopReason::Implemented { .. });
        let status = if done { SpecStatus::Done } else { SpecStatus::Failed };
        let state = SpecState { status, last_run: Some(state::now()), session: Some(record.id.clone()) };
        ProjectState::update(&session.layout.state_file(), |s| {
            s.specs.insert(self.spec.id.clone(), state);
        })?;
        let last: Option<&IterationRecord> = record.iterations.last();
        let unmet = record
            .spec
            .iter()
            .flat_map(|s| &s.criteria)
            .filter(|c| !c.met)
            .map(|c| format!("{}. {}", c.index, c.text))
            .collect();
        session.emit(&Event::SpecFinished {
            spec: self.spec.id.clone(),
            status,
            commit: last.and_then(|i| i.commit.clone()),
            unmet,
            message: if done {
                reason.to_string()
            } else {
                last.and_then(|i| i.error.clone()).unwrap_or_else(|| reason.to_string())
            },
            cost_usd: record.cost_usd,
            requests: record.requests,
        });
        Ok(())
    }
}

/// The budget, token or time limit that has been reached, if any.
fn limit_reached(session: &Session) -> Option<StopReason> {
    stop::before_iteration(&session.record.settings.limits, &session.progress()).filter(|r| {
        matches!(r, StopReason::Budget { .. } | StopReason::TokenLimit { .. } | StopReason::TimeLimit { .. })
    })
}

/// The change for the verifier: the diff of modified files, new files in full.
fn describe_change(git: &Git, changed: &[String]) -> anyhow::Result<String> {
    let mut args = vec!["diff", "HEAD", "--"];
    args.extend(changed.iter().map(String::as_str));
    let mut text = git.run(&args)?;
    let mut args = vec!["ls-files", "--others", "--exclude-standard", "-z", "--"];
    args.extend(changed.iter().map(String::as_str));
    for new in git.run(&args)?.split('\0').filter(|p| !p.is_empty()) {
        let content = std::fs::read_to_string(git.root().join(new)).unwrap_or_default();
        text.push_str(&format!("\nNew file {new}:\n```\n{}\n```\n", content.trim_end()));
    }
    if text.len() > MAX_CHANGE_CHARS {
        let cut = (0..=MAX_CHANGE_CHARS).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
        text.push_str("\n[… the rest of the change is cut]");
    }
    Ok(text)
}
