//! The Storage tab's "Data Synchronization" part (manual 7.3.2): folders of the user's data
//! directory on the core uploaded to each new instance once its storage is mounted, in order.

use leptos::prelude::*;
use wintermute_api::setup::DataUpload;

use crate::ui::{ErrorBox, RemovableRows};

#[component]
pub fn DataUploads(
    rows: RwSignal<Vec<DataUpload>>,
    /// Where the new storage is mounted: the suggested destination.
    mount_point: Signal<String>,
    disabled: Signal<bool>,
) -> impl IntoView {
    let source = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let add = move |_| {
        let s = source.get_untracked().trim().to_owned();
        let mut t = target.get_untracked().trim().to_owned();
        if t.is_empty() {
            t = format!("{}/", mount_point.get_untracked().trim_end_matches('/'));
        }
        if s.is_empty() {
            error.set(Some("Give the data source: a folder in your data directory on the core.".into()));
            return;
        }
        if !t.starts_with('/') && !t.starts_with("~/") {
            error.set(Some(format!("{t}: the destination is a full path on the instance, e.g. /mnt/data/")));
            return;
        }
        error.set(None);
        rows.update(|r| r.push(DataUpload { source: s, target: t }));
        source.set(String::new());
        target.set(String::new());
    };
    view! {
        <fieldset class="stack data-sync" prop:disabled=move || disabled.get()>
            <legend>"Data Synchronization"</legend>
            <p class="hint">
                "Uploaded from your data directory on the core through the encrypted channel once the storage is mounted. \
                 The destination should be the encrypted volume's mount point or a directory in it. \
                 A trailing / on the source means its contents."
            </p>
            <RemovableRows
                rows=rows
                headers=&["Data source", "Data destination"]
                row=|r: DataUpload, remove| {
                    view! {
                        <tr data-upload=r.source.clone()>
                            <td data-label="Data source"><code>{r.source.clone()}</code></td>
                            <td data-label="Data destination"><code>{r.target.clone()}</code></td>
                            {remove}
                        </tr>
                    }
                }
            />
            <div class="uds-add pair-add">
                <label>"Data source" <input type="text" name="data_source" placeholder="e.g. deck1/" bind:value=source /></label>
                <label>
                    "Data destination"
                    <input type="text" name="data_target" placeholder=move || format!("{}/", mount_point.get().trim_end_matches('/')) bind:value=target />
                </label>
                <button type="button" class="add add-upload" on:click=add>"Add upload"</button>
            </div>
        </fieldset>
        <ErrorBox error=error />
    }
}
