//! A row's actions: small buttons that open a dialog, or an "Actions ▾" menu of them.

use leptos::prelude::*;

/// A row's small button that opens a dialog: sets `dialog` to `to` when clicked.
pub fn open_button<D: Clone + Send + Sync + 'static>(
    dialog: RwSignal<D>,
    to: D,
    label: &'static str,
    danger: bool,
) -> impl IntoView {
    view! {
        <button type="button" class="small" class:danger=danger on:click=move |_| dialog.set(to.clone())>
            {label}
        </button>
    }
}

/// An item of a [`RowMenu`] that opens a dialog; `to` is made when it is chosen.
pub fn menu_item<D, F>(dialog: RwSignal<D>, label: &'static str, disabled: bool, to: F) -> impl IntoView
where
    D: Send + Sync + 'static,
    F: Fn() -> D + Send + Sync + 'static,
{
    view! {
        <button type="button" role="menuitem" disabled=disabled on:click=move |_| dialog.set(to())>
            {label}
        </button>
    }
}

/// A button with a menu under it: a click or Enter opens and closes it; Escape closes it and
/// gives the focus back to the button; choosing an item closes it.
#[component]
pub fn MenuButton(
    #[prop(into)] open: Signal<bool>,
    /// Opens (true) or closes (false) the menu.
    set_open: Callback<bool>,
    /// What the button says.
    #[prop(into)]
    text: Signal<String>,
    #[prop(optional, into)] class: String,
    /// The button's name for screen readers, when its text is not enough ("Actions of web-1").
    #[prop(optional, into)]
    label: Option<String>,
    #[prop(optional, into)] disabled: Signal<bool>,
    children: ChildrenFn,
) -> impl IntoView {
    let button = NodeRef::<leptos::html::Button>::new();
    let children = StoredValue::new(children);
    let keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" && open.get_untracked() {
            ev.stop_propagation();
            set_open.run(false);
            if let Some(b) = button.get_untracked() {
                let _ = b.focus();
            }
        }
    };
    view! {
        <div class="menu-wrap" on:keydown=keydown>
            <button
                type="button"
                class=class
                aria-haspopup="true"
                aria-expanded=move || open.get().to_string()
                aria-label=label
                disabled=move || disabled.get()
                node_ref=button
                on:click=move |_| set_open.run(!open.get_untracked())
            >
                {move || text.get()}
            </button>
            <Show when=move || open.get()>
                <div class="dropdown" role="menu" on:click=move |_| set_open.run(false)>
                    {children.with_value(|c| c())}
                </div>
            </Show>
        </div>
    }
}

/// "Actions ▾" of the row `id`: one menu of the page is open at a time (`menu` holds its row).
#[component]
pub fn RowMenu(
    menu: RwSignal<Option<i64>>,
    id: i64,
    /// The button's name for screen readers ("Actions of web-1").
    #[prop(into)]
    label: String,
    children: ChildrenFn,
) -> impl IntoView {
    view! {
        <MenuButton
            open=Signal::derive(move || menu.get() == Some(id))
            set_open=Callback::new(move |open: bool| menu.set(open.then_some(id)))
            text="Actions ▾".to_string()
            class="small"
            label=label
        >
            {children()}
        </MenuButton>
    }
}
