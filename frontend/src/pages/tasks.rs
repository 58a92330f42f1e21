//! The task manager (manual 7.2.2): every task the user may see, live, with its log and cancel.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use wintermute_api::client::TaskQuery;
use wintermute_api::tasks::{Task, TaskState};
use wintermute_api::users::Permission;

use crate::api::{act, use_auth, Auth};
use crate::events::{use_live, Live};
use crate::ui::{fmt_opt_time, fmt_time, ErrorBox, Progress, StateBadge};

const PAGE: u32 = 50;

/// Whether the user may cancel this task: their own, or anybody's with "control tasks".
fn may_cancel(auth: Auth, t: &Task) -> bool {
    !t.state.is_finished()
        && !t.cancel_requested
        && (t.owner_id == auth.user_id() || auth.can(Permission::ControlTasks))
}

#[component]
pub fn TaskList() -> impl IntoView {
    let auth = use_auth();
    let live = use_live();
    let state_filter = RwSignal::new(String::new());
    let mine = RwSignal::new(false);
    // The ids this view loaded, and the newest id at that time: newer tasks arrive live.
    let loaded = RwSignal::new(Vec::<i64>::new());
    let newest = RwSignal::new(0i64);
    let next_before = RwSignal::new(None::<i64>);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);

    let query = move |before: Option<i64>| TaskQuery {
        state: Some(state_filter.get_untracked()).filter(|s| !s.is_empty()),
        mine: Some(mine.get_untracked()).filter(|m| *m),
        limit: Some(PAGE),
        before,
    };
    let load = move |before: Option<i64>| {
        let q = query(before);
        act(
            auth,
            busy,
            error,
            move |c| async move { c.tasks(&q).await },
            move |page| {
                let ids: Vec<i64> = page.items.iter().map(|t| t.id).collect();
                if before.is_none() {
                    newest.set(ids.iter().copied().max().unwrap_or(0));
                    loaded.set(ids);
                } else {
                    loaded.update(|l| l.extend(ids));
                }
                for t in page.items {
                    live.merge_task(t);
                }
                next_before.set(page.next_before);
            },
        );
    };
    Effect::new(move |_| {
        live.generation.track();
        state_filter.track();
        mine.track();
        load(None);
    });

    let shown = move || {
        let ids = loaded.get();
        let newest = newest.get();
        let state = state_filter.get();
        let only_mine = mine.get();
        let me = auth.user_id();
        live.tasks.with(|tasks| {
            let mut out: Vec<Task> = tasks
                .values()
                .filter(|t| ids.contains(&t.id) || t.id > newest)
                .filter(|t| state.is_empty() || t.state.as_str() == state)
                .filter(|t| !only_mine || t.owner_id == me)
                .cloned()
                .collect();
            out.sort_by_key(|t| std::cmp::Reverse(t.id));
            out
        })
    };

    let shown_ids = move || shown().into_iter().map(|t| t.id).collect::<Vec<i64>>();
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Tasks"</h1>
                <div class="filters">
                    <label class="inline">
                        "State "
                        <select on:change=move |ev| state_filter.set(event_target_value(&ev))>
                            <option value="">"all"</option>
                            {TaskState::ALL
                                .iter()
                                .map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> })
                                .collect_view()}
                        </select>
                    </label>
                    <Show when=move || auth.can(Permission::ControlTasks)>
                        <label class="inline check">
                            <input type="checkbox" bind:checked=mine />
                            " only mine"
                        </label>
                    </Show>
                </div>
            </div>
            <ErrorBox error=error />
            <div class="table-wrap">
                <table class="data tasks-table">
                    <thead>
                        <tr>
                            <th>"#"</th>
                            <th>"Task"</th>
                            <th>"Owner"</th>
                            <th>"State"</th>
                            <th>"Progress"</th>
                            <th>"Created"</th>
                            <th><span class="sr-only">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        // Rows are kept by id and update in place (a row re-made on every
                        // progress step would swallow clicks on its Cancel button).
                        <For each=shown_ids key=|id| *id let:id>
                            <TaskRow id=id live=live />
                        </For>
                    </tbody>
                </table>
            </div>
            <Show when=move || { shown().is_empty() && !busy.get() }>
                <p class="muted">"No tasks."</p>
            </Show>
            <Show when=move || next_before.get().is_some()>
                <button type="button" disabled=move || busy.get() on:click=move |_| load(next_before.get_untracked())>
                    "Load older tasks"
                </button>
            </Show>
        </section>
    }
}

#[component]
fn TaskRow(id: i64, live: Live) -> impl IntoView {
    let auth = use_auth();
    let task = Memo::new(move |_| live.tasks.with(|t| t.get(&id).cloned()));
    let text = move |f: fn(&Task) -> String| move || task.with(|t| t.as_ref().map(f).unwrap_or_default());
    let state = Memo::new(move |_| task.with(|t| t.as_ref().map(|t| t.state)));
    let cancellable = Memo::new(move |_| task.with(|t| t.as_ref().is_some_and(|t| may_cancel(auth, t))));
    let progress = Signal::derive(move || task.with(|t| t.as_ref().map(|t| t.progress).unwrap_or(0.0)));
    view! {
        <tr data-task-id=id data-state=move || state.get().map(|s| s.as_str()).unwrap_or("")>
            <td data-label="#">{id}</td>
            <td data-label="Task">
                <A href=format!("/tasks/{id}")>{text(|t| t.title.clone())}</A>
                <div class="sub">{text(|t| t.message.clone())}</div>
            </td>
            <td data-label="Owner">{text(|t| t.owner_login.clone())}</td>
            <td data-label="State">{move || state.get().map(|s| view! { <StateBadge state=s /> })}</td>
            <td data-label="Progress"><Progress value=progress /></td>
            <td data-label="Created">{text(|t| fmt_time(&t.created_at))}</td>
            <td class="actions">
                <Show when=move || cancellable.get()>
                    <CancelButton id=id live=live />
                </Show>
            </td>
        </tr>
    }
}

/// A task followed in place (a dialog that started it): state, progress bar, what it does now
/// (for a transfer: files, bytes, rate and time left), Cancel while it runs, and its log as it
/// is written.
#[component]
pub fn TaskFollow(
    task_id: i64,
    /// The section's class, for styles and tests.
    #[prop(into)]
    class: String,
    #[prop(into)] label: String,
) -> impl IntoView {
    let auth = use_auth();
    let live = use_live();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    // Lines written before the events reached this view come from the API.
    Effect::new(move |_| {
        live.generation.track();
        act(
            auth,
            busy,
            error,
            move |c| async move { Ok((c.task(task_id).await?, c.task_log(task_id, None).await?)) },
            move |(task, log)| {
                live.merge_task(task);
                live.merge_log(task_id, log);
            },
        );
    });
    let task = Memo::new(move |_| live.tasks.with(|t| t.get(&task_id).cloned()));
    let text = move |f: fn(&Task) -> String| move || task.with(|t| t.as_ref().map(f).unwrap_or_default());
    let state = Memo::new(move |_| task.with(|t| t.as_ref().map(|t| t.state)));
    let cancellable = Memo::new(move |_| task.with(|t| t.as_ref().is_some_and(|t| may_cancel(auth, t))));
    let progress = Signal::derive(move || task.with(|t| t.as_ref().map(|t| t.progress).unwrap_or(0.0)));
    let lines = move || live.logs.with(|l| l.get(&task_id).cloned().unwrap_or_default());
    let log_box = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        let n = live.logs.with(|l| l.get(&task_id).map(|v| v.len()).unwrap_or(0));
        if let (Some(el), true) = (log_box.get(), n > 0) {
            el.set_scroll_top(el.scroll_height());
        }
    });
    view! {
        <section class=format!("task-follow {class}") aria-label=label data-state=move || state.get().map(|s| s.as_str()).unwrap_or("")>
            <p class="task-line">
                {move || state.get().map(|s| view! { <StateBadge state=s /> })}
                " "
                {text(|t| t.title.clone())}
                " "
                <A href=format!("/tasks/{task_id}")>"open task"</A>
            </p>
            <Progress value=progress />
            <p class="task-message" role="status">{text(|t| t.message.clone())}</p>
            <Show when=move || cancellable.get()>
                <CancelButton id=task_id live=live />
            </Show>
            <ErrorBox error=error />
            <div class="log-box small" node_ref=log_box role="log" aria-live="polite">
                <For each=lines key=|l| l.seq let:l>
                    <div class=format!("log-row level-{}", l.level.as_str())>
                        <time>{fmt_time(&l.at)}</time>
                        <span class="msg">{l.line.clone()}</span>
                    </div>
                </For>
            </div>
        </section>
    }
}

#[component]
fn CancelButton(id: i64, live: Live) -> impl IntoView {
    let auth = use_auth();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let cancel = move |_| {
        act(auth, busy, error, move |c| async move { c.cancel_task(id).await }, move |t| live.merge_task(t));
    };
    view! {
        <button type="button" class="danger small" disabled=move || busy.get() on:click=cancel>
            "Cancel"
        </button>
        <ErrorBox error=error />
    }
}

#[component]
pub fn TaskDetail() -> impl IntoView {
    let auth = use_auth();
    let live = use_live();
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        live.generation.track();
        let id = id();
        act(
            auth,
            busy,
            error,
            move |c| async move {
                let task = c.task(id).await?;
                let log = c.task_log(id, None).await?;
                Ok((task, log))
            },
            move |(task, log)| {
                live.merge_task(task);
                live.merge_log(id, log);
            },
        );
    });
    let task = Memo::new(move |_| live.tasks.with(|t| t.get(&id()).cloned()));
    let text = move |f: fn(&Task) -> String| move || task.with(|t| t.as_ref().map(f).unwrap_or_default());
    let exists = Memo::new(move |_| task.with(|t| t.is_some()));
    let state = Memo::new(move |_| task.with(|t| t.as_ref().map(|t| t.state)));
    let cancellable = Memo::new(move |_| task.with(|t| t.as_ref().is_some_and(|t| may_cancel(auth, t))));
    let progress = Signal::derive(move || task.with(|t| t.as_ref().map(|t| t.progress).unwrap_or(0.0)));
    let lines = move || live.logs.with(|l| l.get(&id()).cloned().unwrap_or_default());
    let log_box = NodeRef::<leptos::html::Div>::new();
    // Follow the end of the log as lines arrive.
    Effect::new(move |_| {
        let n = live.logs.with(|l| l.get(&id()).map(|v| v.len()).unwrap_or(0));
        if let Some(el) = log_box.get() {
            if n > 0 {
                el.set_scroll_top(el.scroll_height());
            }
        }
    });
    view! {
        <section class="page">
            <p class="crumbs"><A href="/tasks">"← Tasks"</A></p>
            <ErrorBox error=error />
            // Built once; each field follows the task (no re-made buttons while it runs).
            <Show when=move || exists.get()>
                <div class="page-head">
                    <h1>{text(|t| format!("Task {}: {}", t.id, t.title))}</h1>
                    <Show when=move || cancellable.get()>
                        <CancelButton id=id() live=live />
                    </Show>
                </div>
                <dl class="facts">
                    <dt>"State"</dt>
                    <dd data-testid="task-state">{move || state.get().map(|s| view! { <StateBadge state=s /> })}</dd>
                    <dt>"Progress"</dt>
                    <dd><Progress value=progress /></dd>
                    <dt>"Message"</dt>
                    <dd>{text(|t| t.message.clone())}</dd>
                    <dt>"Kind"</dt>
                    <dd><code>{text(|t| t.kind.clone())}</code></dd>
                    <dt>"Owner"</dt>
                    <dd>{text(|t| t.owner_login.clone())}</dd>
                    <dt>"Created"</dt>
                    <dd>{text(|t| fmt_time(&t.created_at))}</dd>
                    <dt>"Started"</dt>
                    <dd>{text(|t| fmt_opt_time(&t.started_at))}</dd>
                    <dt>"Finished"</dt>
                    <dd>{text(|t| fmt_opt_time(&t.finished_at))}</dd>
                </dl>
            </Show>
            <h2>"Log"</h2>
            <div class="log-box" node_ref=log_box role="log" aria-live="polite" tabindex="0">
                <For each=lines key=|l| l.seq let:l>
                    <div class=format!("log-row level-{}", l.level.as_str())>
                        <time>{fmt_time(&l.at)}</time>
                        <span class="lvl">{l.level.as_str()}</span>
                        <span class="msg">{l.line.clone()}</span>
                    </div>
                </For>
                <Show when=move || lines().is_empty()>
                    <p class="muted">"No log lines yet."</p>
                </Show>
            </div>
        </section>
    }
}
