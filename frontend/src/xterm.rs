//! Bindings to the parts of xterm.js (npm `@xterm/xterm`) and its fit add-on that the console
//! uses. The modules are shipped with the app (wasm-bindgen copies them next to its glue), never
//! loaded from another host; `scripts/build-frontend` runs `npm ci` first.

use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/node_modules/@xterm/xterm/lib/xterm.mjs")]
extern "C" {
    /// A terminal emulator drawn into an element.
    pub type Terminal;

    #[wasm_bindgen(constructor)]
    pub fn new(options: &JsValue) -> Terminal;

    #[wasm_bindgen(method)]
    pub fn open(this: &Terminal, parent: &web_sys::HtmlElement);

    /// Writes bytes as the remote side printed them; `done` runs once xterm.js parsed them.
    #[wasm_bindgen(method, js_name = write)]
    pub fn write_bytes_then(this: &Terminal, data: &Uint8Array, done: &Function);

    #[wasm_bindgen(method, js_name = write)]
    pub fn write_bytes(this: &Terminal, data: &Uint8Array);

    #[wasm_bindgen(method, js_name = write)]
    pub fn write_str(this: &Terminal, data: &str);

    /// What the user typed (or pasted), as a string.
    #[wasm_bindgen(method, js_name = onData)]
    pub fn on_data(this: &Terminal, f: &Closure<dyn FnMut(String)>) -> Disposable;

    /// Non-UTF-8 input (some mouse reports), one character per byte.
    #[wasm_bindgen(method, js_name = onBinary)]
    pub fn on_binary(this: &Terminal, f: &Closure<dyn FnMut(String)>) -> Disposable;

    /// The terminal's size changed: `{ cols, rows }`.
    #[wasm_bindgen(method, js_name = onResize)]
    pub fn on_resize(this: &Terminal, f: &Closure<dyn FnMut(JsValue)>) -> Disposable;

    /// Lets the app see key presses first; returning false keeps them from the terminal.
    #[wasm_bindgen(method, js_name = attachCustomKeyEventHandler)]
    pub fn attach_custom_key_event_handler(this: &Terminal, f: &Closure<dyn FnMut(web_sys::KeyboardEvent) -> bool>);

    #[wasm_bindgen(method, getter)]
    pub fn cols(this: &Terminal) -> u32;

    #[wasm_bindgen(method, getter)]
    pub fn rows(this: &Terminal) -> u32;

    #[wasm_bindgen(method, js_name = getSelection)]
    pub fn get_selection(this: &Terminal) -> String;

    #[wasm_bindgen(method, js_name = hasSelection)]
    pub fn has_selection(this: &Terminal) -> bool;

    /// Sends text as if pasted (bracketed paste when the remote side asked for it).
    #[wasm_bindgen(method)]
    pub fn paste(this: &Terminal, data: &str);

    #[wasm_bindgen(method)]
    pub fn focus(this: &Terminal);

    #[wasm_bindgen(method, js_name = loadAddon)]
    pub fn load_addon(this: &Terminal, addon: &JsValue);

    #[wasm_bindgen(method)]
    pub fn dispose(this: &Terminal);

    /// A subscription to a terminal event; disposing it releases the callback.
    pub type Disposable;

    #[wasm_bindgen(method)]
    pub fn dispose(this: &Disposable);
}

#[wasm_bindgen(module = "/node_modules/@xterm/addon-fit/lib/addon-fit.mjs")]
extern "C" {
    /// Sizes a terminal to fill its element.
    pub type FitAddon;

    #[wasm_bindgen(constructor)]
    pub fn new() -> FitAddon;

    #[wasm_bindgen(method)]
    pub fn fit(this: &FitAddon);
}

/// The terminal's options: font, colours, scrollback.
pub fn options() -> JsValue {
    let o = Object::new();
    let theme = Object::new();
    let set = |obj: &Object, k: &str, v: JsValue| {
        let _ = Reflect::set(obj, &JsValue::from_str(k), &v);
    };
    set(&theme, "background", "#0f1726".into());
    set(&theme, "foreground", "#d6e2f5".into());
    set(&theme, "cursor", "#4cc9f0".into());
    set(&o, "theme", theme.into());
    set(&o, "fontFamily", "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace".into());
    set(&o, "fontSize", 14.into());
    set(&o, "scrollback", 5000.into());
    set(&o, "cursorBlink", true.into());
    o.into()
}

/// `{ cols, rows }` of an `onResize` event.
pub fn size_of(ev: &JsValue) -> Option<(u32, u32)> {
    let get = |k: &str| Reflect::get(ev, &JsValue::from_str(k)).ok().and_then(|v| v.as_f64()).map(|v| v as u32);
    Some((get("cols")?, get("rows")?))
}
