//! The dashboard (manual 7.2.1): tiles, the activity log and the history graphs of the caller.

use leptos::prelude::*;
use leptos_router::components::A;
use wintermute_api::dashboard::Dashboard as Data;

use crate::api::{load_into, use_auth, Loaded};
use crate::chart::{ChartKind, HistoryChart};
use crate::events::use_live;
use crate::ui::fmt_time;

#[component]
pub fn Dashboard() -> impl IntoView {
    let auth = use_auth();
    let live = use_live();
    let data = RwSignal::new(Loaded::<Data>::Loading);
    let reload = move || load_into(auth, data, |c| async move { c.dashboard().await });
    // Reload when live updates (re)connect and whenever a task starts or changes state (not on
    // every progress step).
    let states = Memo::new(move |_| live.tasks.with(|t| t.values().map(|t| (t.id, t.state)).collect::<Vec<_>>()));
    Effect::new(move |_| {
        live.generation.track();
        live.resources.track();
        states.track();
        reload();
    });
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Dashboard"</h1>
                <button type="button" on:click=move |_| reload()>"Refresh"</button>
            </div>
            {move || match data.get() {
                Loaded::Loading => view! { <p class="loading">"Loading…"</p> }.into_any(),
                Loaded::Failed(e) => view! { <div class="error" role="alert">{e}</div> }.into_any(),
                Loaded::Ready(d) => view! { <DashboardView data=d /> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn DashboardView(data: Data) -> impl IntoView {
    let t = data.tiles.clone();
    let h = data.history.clone();
    let activity = data.activity.clone();
    view! {
        <div class="tiles">
            <div class="tile" data-tile="instances">
                <span class="tile-value">{t.instances_running}</span>
                <span class="tile-label">"Instances running"</span>
            </div>
            <div class="tile" data-tile="volumes">
                <span class="tile-value">{t.volumes_attached}</span>
                <span class="tile-label">"Volumes attached"</span>
            </div>
            <div class="tile" data-tile="volume-size">
                <span class="tile-value">{t.volumes_size_gb} <small>" GB"</small></span>
                <span class="tile-label">"Volume size"</span>
            </div>
            <A href="/tasks" attr:class="tile link-tile" attr:data-tile="tasks">
                <span class="tile-value">{t.tasks_running}</span>
                <span class="tile-label">"Tasks running"</span>
            </A>
        </div>
        <div class="dash-grid">
            <section class="card charts" aria-label="History">
                <h2>{format!("Last {} days", h.days.len())}</h2>
                <div class="chart-grid">
                    <HistoryChart
                        title="Created instances"
                        days=h.days.clone()
                        values=h.created_instances.clone()
                        kind=ChartKind::Bars
                        series="series-a"
                    />
                    <HistoryChart
                        title="Active instances"
                        days=h.days.clone()
                        values=h.active_instances.clone()
                        kind=ChartKind::Line
                        series="series-b"
                    />
                    <HistoryChart
                        title="Volumes"
                        days=h.days.clone()
                        values=h.volumes.clone()
                        kind=ChartKind::Line
                        series="series-c"
                    />
                    <HistoryChart
                        title="Tasks started"
                        days=h.days.clone()
                        values=h.tasks.clone()
                        kind=ChartKind::Bars
                        series="series-d"
                    />
                </div>
            </section>
            <section class="card activity" aria-label="Activity">
                <h2>"Activity"</h2>
                {if activity.is_empty() {
                    view! { <p class="muted">"No activity yet."</p> }.into_any()
                } else {
                    view! {
                        <ol class="log-list">
                            {activity
                                .into_iter()
                                .map(|a| {
                                    view! {
                                        <li>
                                            <time>{fmt_time(&a.at)}</time>
                                            <A href=format!("/tasks/{}", a.task_id)>{a.task_title.clone()}</A>
                                            <span class="log-line">{a.line.clone()}</span>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ol>
                    }
                        .into_any()
                }}
            </section>
        </div>
    }
}
