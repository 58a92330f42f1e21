//! The Setup tab's UDS table (manual 7.3.2): user defined scripts with their sequence and
//! parameters; "Add" inserts a row at its place in the sequence.

use leptos::prelude::*;
use wintermute_api::scenarios::Script;

use super::form::UdsRow;
use crate::ui::{ErrorBox, RemovableRows};

/// The name of script `id` among `scripts` (its number when it is not there).
pub fn script_name(scripts: &[Script], id: i64) -> String {
    scripts.iter().find(|s| s.id == id).map(|s| s.name.clone()).unwrap_or_else(|| format!("#{id}"))
}

#[component]
pub fn UdsTable(
    rows: RwSignal<Vec<UdsRow>>,
    /// The scripts that may be added (those for the image's distribution).
    scripts: Signal<Vec<Script>>,
    /// Every script the user may use, to name the rows.
    names: Signal<Vec<Script>>,
    disabled: Signal<bool>,
) -> impl IntoView {
    let seq = RwSignal::new("10".to_string());
    let script = RwSignal::new(0i64);
    let params = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let name_of = move |id: i64| names.with(|n| script_name(n, id));
    let add = move |_| {
        let Ok(sequence) = seq.get_untracked().trim().parse::<u32>() else {
            error.set(Some("The UDS sequence is a whole number (10, 20, …).".into()));
            return;
        };
        let script_id = script.get_untracked();
        if script_id == 0 {
            error.set(Some("Choose the script to add.".into()));
            return;
        }
        error.set(None);
        rows.update(|rows| {
            rows.push(UdsRow { sequence, script_id, parameters: params.get_untracked() });
            rows.sort_by_key(|r| r.sequence);
        });
        seq.set((sequence + 10).to_string());
        params.set(String::new());
    };
    view! {
        <fieldset class="stack uds" prop:disabled=move || disabled.get()>
            <legend>"UDS (user defined scripts, run in sequence order)"</legend>
            <RemovableRows
                rows=rows
                headers=&["Seq", "UDS", "Params"]
                row=move |r: UdsRow, remove| {
                    view! {
                        <tr data-uds=name_of(r.script_id)>
                            <td data-label="Seq">{r.sequence}</td>
                            <td data-label="UDS">{name_of(r.script_id)}</td>
                            <td data-label="Params"><code>{r.parameters.clone()}</code></td>
                            {remove}
                        </tr>
                    }
                }
            />
            <div class="uds-add">
                <label>"Sequence" <input type="number" name="uds_sequence" min="0" bind:value=seq /></label>
                <label>
                    "Script"
                    <select name="uds_script" on:change=move |ev| script.set(event_target_value(&ev).parse().unwrap_or(0))>
                        <option value="0">"— choose —"</option>
                        {move || {
                            scripts.get()
                                .into_iter()
                                .map(|s| {
                                    let id = s.id;
                                    view! {
                                        <option value=id.to_string() selected=move || script.get() == id>
                                            {format!("{} — {}", s.name, s.description)}
                                        </option>
                                    }
                                })
                                .collect_view()
                        }}
                    </select>
                </label>
                <label>"Parameters" <input type="text" name="uds_parameters" placeholder="-f /mnt/data/myEnv.cfg" bind:value=params /></label>
                <button type="button" class="add" on:click=add>"Add"</button>
            </div>
        </fieldset>
        <ErrorBox error=error />
    }
}
