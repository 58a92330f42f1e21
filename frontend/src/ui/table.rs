//! Lists shown as tables: "Loading…", the core's error or an empty-list sentence until there is
//! something to show, then a table whose cells carry their column's name, so that on a phone each
//! row becomes a card of labelled lines (see `style.css`, "narrow screens").

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::api::Loaded;

/// A list from the core: "Loading…" while it loads, its error if it failed, `empty` (when
/// given) if it has nothing, else a [`DataTable`] with a row per item made by `row`.
#[component]
pub fn ListTable<T, R, V>(
    list: RwSignal<Loaded<Vec<T>>>,
    /// The column headings; an empty one (the actions column) is named only for screen readers.
    headers: &'static [&'static str],
    /// What to say when the list is empty.
    #[prop(optional, into)]
    empty: String,
    row: R,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    R: Fn(T) -> V + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    move || match list.get() {
        Loaded::Loading => view! { <p class="loading">"Loading…"</p> }.into_any(),
        Loaded::Failed(e) => view! { <div class="error" role="alert">{e}</div> }.into_any(),
        Loaded::Ready(items) if items.is_empty() && !empty.is_empty() => {
            view! { <p class="muted">{empty.clone()}</p> }.into_any()
        }
        Loaded::Ready(items) => {
            // Made here, where reading a signal re-makes the list, not inside the table's body.
            let rows = items.into_iter().map(row.clone()).collect_view();
            view! { <DataTable headers=headers>{rows}</DataTable> }.into_any()
        }
    }
}

/// A table with `headers` over `children` (its rows). Cells without a `data-label` get their
/// column's heading as one, rows added later included.
#[component]
pub fn DataTable(
    headers: &'static [&'static str],
    #[prop(optional, into)] class: String,
    children: Children,
) -> impl IntoView {
    let table = NodeRef::<leptos::html::Table>::new();
    label_cells(table);
    view! {
        <div class="table-wrap">
            <table class=format!("data {class}") node_ref=table>
                <thead>
                    <tr>
                        {headers
                            .iter()
                            .map(|h| {
                                if h.is_empty() {
                                    view! { <th><span class="sr-only">"Actions"</span></th> }.into_any()
                                } else {
                                    view! { <th>{*h}</th> }.into_any()
                                }
                            })
                            .collect_view()}
                    </tr>
                </thead>
                <tbody>{children()}</tbody>
            </table>
        </div>
    }
}

/// Keeps every body cell of `table` labelled with its column's heading (`data-label`), for the
/// card layout of narrow screens: once mounted and whenever rows come or go. Cells that have a
/// label keep it; the actions column gets none.
fn label_cells(table: NodeRef<leptos::html::Table>) {
    type Watch = Option<(web_sys::MutationObserver, Closure<dyn FnMut()>)>;
    let watch: SendWrapper<Rc<RefCell<Watch>>> = SendWrapper::new(Rc::new(RefCell::new(None)));
    let keep = watch.clone();
    Effect::new(move |_| {
        let Some(el) = table.get() else { return };
        let el: web_sys::Element = el.into();
        label(&el);
        let target = el.clone();
        let on_change = Closure::<dyn FnMut()>::new(move || label(&target));
        let Ok(observer) = web_sys::MutationObserver::new(on_change.as_ref().unchecked_ref()) else { return };
        let options = web_sys::MutationObserverInit::new();
        options.set_child_list(true);
        options.set_subtree(true);
        if observer.observe_with_options(&el, &options).is_ok() {
            if let Some((old, _)) = keep.borrow_mut().replace((observer, on_change)) {
                old.disconnect();
            }
        }
    });
    on_cleanup(move || {
        if let Some((observer, _)) = watch.borrow_mut().take() {
            observer.disconnect();
        }
    });
}

fn label(table: &web_sys::Element) {
    let Ok(heads) = table.query_selector_all("thead th") else { return };
    let names: Vec<String> = (0..heads.length())
        .filter_map(|i| heads.item(i))
        .map(|h| h.text_content().unwrap_or_default().trim().to_string())
        .collect();
    let Ok(rows) = table.query_selector_all("tbody > tr") else { return };
    for row in (0..rows.length()).filter_map(|i| rows.item(i)) {
        let Ok(row) = row.dyn_into::<web_sys::Element>() else { continue };
        let cells = row.children();
        for (i, name) in names.iter().enumerate() {
            let Some(cell) = cells.item(i as u32) else { break };
            if name.is_empty() || cell.has_attribute("data-label") || cell.class_list().contains("actions") {
                continue;
            }
            let _ = cell.set_attribute("data-label", name);
        }
    }
}

/// The rows a dialog's form collects (uploads, scripts to run): a compact table, shown once there
/// is a row. `row` makes a `<tr>` from an item and the cell with its "Remove" button.
#[component]
pub fn RemovableRows<T, R, V>(rows: RwSignal<Vec<T>>, headers: &'static [&'static str], row: R) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    R: Fn(T, AnyView) -> V + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    move || {
        let list = rows.get();
        (!list.is_empty()).then(|| {
            let row = row.clone();
            view! {
                <table class="data compact">
                    <thead>
                        <tr>
                            {headers.iter().map(|h| view! { <th>{*h}</th> }).collect_view()}
                            <th><span class="sr-only">"Remove"</span></th>
                        </tr>
                    </thead>
                    <tbody>{list.into_iter().enumerate().map(|(i, r)| row(r, remove_cell(rows, i))).collect_view()}</tbody>
                </table>
            }
        })
    }
}

fn remove_cell<T: Send + Sync + 'static>(rows: RwSignal<Vec<T>>, i: usize) -> AnyView {
    let remove = move |_| {
        rows.update(|v| {
            if i < v.len() {
                v.remove(i);
            }
        })
    };
    view! {
        <td class="actions">
            <button type="button" class="small" on:click=remove>"Remove"</button>
        </td>
    }
    .into_any()
}
