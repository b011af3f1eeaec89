// The simulator's page: pick a pharmacy, chat with the agent through the gateway.
// No framework, no build, nothing fetched from the internet. Text from the chat is only ever
// inserted with textContent.
"use strict";

const POLL_MS = 1000;
const page = {
  config: null,
  current: null, // {wa_id, name, phone, city, state}
  rendered: "", // the last feed drawn, to redraw only on change
  displayed: new Set(), // the gateway's messages already reported as read
  openList: null, // the wamid of the list message whose rows are shown
};

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    headers: { "content-type": "application/json" },
    ...options,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const detail = data && data.detail;
    throw new Error(typeof detail === "string" ? detail : `erro ${response.status}`);
  }
  return data;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

function digits(value) {
  return (value || "").replace(/\D/g, "");
}

function formatPhone(waId) {
  const d = digits(waId);
  if (d.startsWith("55") && (d.length === 12 || d.length === 13)) {
    const local = d.slice(4);
    return `+55 (${d.slice(2, 4)}) ${local.slice(0, local.length - 4)}-${local.slice(-4)}`;
  }
  return `+${d}`;
}

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString("pt-BR", { hour: "2-digit", minute: "2-digit" });
}

// WhatsApp's *negrito* and _itálico_, as DOM nodes.
function formatted(text) {
  const span = document.createElement("span");
  const pattern = /(\*[^*\n]+\*|_[^_\n]+_)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    span.append(text.slice(last, match.index));
    const inner = match[0].slice(1, -1);
    span.append(el(match[0][0] === "*" ? "strong" : "em", { text: inner }));
    last = match.index + match[0].length;
  }
  span.append(text.slice(last));
  return span;
}

// ----------------------------------------------------------------------------- pharmacies

function renderCustomers() {
  const filter = $("filter").value.trim().toLocaleLowerCase("pt-BR");
  const list = $("customers");
  list.replaceChildren();
  for (const customer of page.config.customers) {
    const haystack = `${customer.name} ${customer.city} ${customer.state}`.toLocaleLowerCase("pt-BR");
    if (filter && !haystack.includes(filter)) continue;
    const place = [customer.city, customer.state].filter(Boolean).join(" – ");
    const button = el(
      "button",
      { type: "button", onclick: () => openChat(customer) },
      [
        el("span", { class: "name", text: customer.name }),
        el("span", { class: "muted", text: `${formatPhone(customer.wa_id)}${place ? " · " + place : ""}` }),
      ],
    );
    if (page.current && page.current.wa_id === customer.wa_id) button.setAttribute("aria-current", "true");
    list.append(el("li", {}, [button]));
  }
}

function openChat(customer) {
  page.current = customer;
  page.rendered = "";
  page.openList = null;
  $("chat-name").textContent = customer.name;
  $("chat-phone").textContent = formatPhone(customer.wa_id);
  $("avatar").textContent = customer.name.replace(/^(Drogaria|Farmácia|Supermercado)\s+/i, "").slice(0, 1).toUpperCase();
  for (const id of ["text", "send", "send-image"]) $(id).disabled = false;
  $("messages").replaceChildren(el("p", { class: "empty", text: "Diga olá! Ex.: “Oi, vocês têm dipirona?”" }));
  showError("");
  renderCustomers();
  $("text").focus();
  refresh();
}

// ---------------------------------------------------------------------------------- chat

function ticks(message) {
  if (message.error) return el("span", { class: "ticks failed", title: message.error, text: "⚠" });
  if (message.read) return el("span", { class: "ticks read", title: "lida pelo gateway", text: "✓✓" });
  if (message.accepted) return el("span", { class: "ticks", title: "recebida pelo gateway", text: "✓✓" });
  return el("span", { class: "ticks", title: "enviando", text: "🕓" });
}

function deliveryLine(message) {
  const statuses = message.statuses || {};
  const parts = [clock(message.at)];
  if (statuses.read) parts.push(`lida ${clock(statuses.read)}`);
  else if (statuses.delivered) parts.push(`entregue ${clock(statuses.delivered)}`);
  else if (statuses.sent) parts.push("enviada");
  return parts.join(" · ");
}

function inboundBubble(message) {
  const bubble = el("div", { class: "bubble in" });
  if (message.kind === "button_reply" || message.kind === "list_reply") {
    bubble.append(el("div", { class: "quoted", text: message.kind === "button_reply" ? "botão" : "item da lista" }));
  }
  if (message.kind === "image") {
    bubble.append(el("img", { class: "image-thumb", src: `/graph/media-download/${message.image}`, alt: "imagem enviada" }));
    if (!message.text) bubble.append(el("span", { class: "muted", text: "📷 Imagem" }));
  }
  if (message.text) bubble.append(formatted(message.text));
  bubble.append(el("div", { class: "meta" }, [document.createTextNode(`${clock(message.at)} `), ticks(message)]));
  return [bubble];
}

function tap(kind, row, message) {
  sendMessage({ reply: { type: kind, id: row.id, title: row.title, description: row.description || "", context: message.id } });
}

function outboundBubble(message) {
  const nodes = [];
  const bubble = el("div", { class: "bubble out" });
  if (message.kind === "template") {
    const t = message.template;
    bubble.append(el("div", { class: "template-tag", text: `modelo ${t.name} (${t.language})` }));
    if (t.parameters.length) bubble.append(formatted(t.parameters.join("\n")));
  } else if (message.kind === "media") {
    bubble.append(el("div", { class: "template-tag", text: `📎 ${message.media_type}` }));
    if (message.text) bubble.append(formatted(message.text));
  } else {
    if (message.header) bubble.append(el("div", { class: "header", text: message.header }));
    bubble.append(formatted(message.text || ""));
    if (message.footer) bubble.append(el("div", { class: "footer", text: message.footer }));
  }
  bubble.append(el("div", { class: "meta", text: deliveryLine(message) }));
  nodes.push(bubble);

  if (message.kind === "buttons") {
    nodes.push(el("div", { class: "actions" }, message.buttons.map((button) =>
      el("button", { type: "button", onclick: () => tap("button_reply", button, message), text: button.title }))));
  }
  if (message.kind === "list") {
    const open = page.openList === message.id;
    const toggle = el("button", {
      type: "button",
      text: `☰ ${message.button || "Ver opções"}`,
      onclick: () => { page.openList = open ? null : message.id; page.rendered = ""; refresh(); },
    });
    const children = [toggle];
    if (open) {
      const panel = el("div", { class: "list-panel" });
      for (const section of message.sections) {
        if (section.title) panel.append(el("h4", { text: section.title }));
        for (const row of section.rows) {
          panel.append(el("button", { type: "button", onclick: () => { page.openList = null; tap("list_reply", row, message); } }, [
            document.createTextNode(row.title),
            row.description ? el("span", { class: "desc", text: row.description }) : null,
          ]));
        }
      }
      children.push(panel);
    }
    nodes.push(el("div", { class: "actions" }, children));
  }
  return nodes;
}

function renderMessages(messages) {
  const box = $("messages");
  const key = JSON.stringify([messages, page.openList]);
  if (key === page.rendered) return;
  page.rendered = key;
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  box.replaceChildren();
  if (!messages.length) {
    box.append(el("p", { class: "empty", text: "Diga olá! Ex.: “Oi, vocês têm dipirona?”" }));
  }
  for (const message of messages) {
    const nodes = message.direction === "in" ? inboundBubble(message) : outboundBubble(message);
    box.append(...nodes);
  }
  if (nearBottom || messages.length <= 2) box.scrollTop = box.scrollHeight;
}

async function reportDisplayed(messages) {
  if (document.hidden || !page.current) return;
  const ids = messages
    .filter((m) => m.direction === "out" && !page.displayed.has(m.id) && !(m.statuses || {}).read)
    .map((m) => m.id);
  if (!ids.length) return;
  try {
    await api(`/api/chats/${page.current.wa_id}/read`, { method: "POST", body: { ids } });
    for (const id of ids) page.displayed.add(id);
  } catch (error) {
    // The gateway is down: the next poll tries again.
  }
}

async function refresh() {
  const current = page.current;
  if (!current) return;
  try {
    const data = await api(`/api/chats/${current.wa_id}`);
    if (page.current !== current) return;
    renderMessages(data.messages);
    $("pending").textContent = data.pending_failures
      ? `${data.pending_failures} falha(s) aguardando o próximo envio do gateway`
      : "";
    await reportDisplayed(data.messages);
  } catch (error) {
    showError(`Simulador indisponível: ${error.message}`);
  }
}

async function sendMessage(body) {
  if (!page.current) return;
  showError("");
  try {
    await api(`/api/chats/${page.current.wa_id}/messages`, { method: "POST", body });
  } catch (error) {
    showError(error.message);
  }
  refresh();
}

// ------------------------------------------------------------------------------- wiring

async function boot() {
  try {
    page.config = await api("/api/config");
  } catch (error) {
    showError(`Não foi possível carregar o simulador: ${error.message}`);
    return;
  }
  $("webhook-url").textContent = page.config.webhook_url;
  $("graph-url").textContent = page.config.graph_url;
  $("phone-number-id").textContent = page.config.phone_number_id;
  $("fail-preset").replaceChildren(...page.config.failures.map((f) => el("option", { value: f.preset, text: f.label })));
  renderCustomers();

  $("filter").addEventListener("input", renderCustomers);
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    if (!text) return;
    $("text").value = "";
    sendMessage({ text });
  });
  $("send-image").addEventListener("click", () => {
    const caption = $("text").value.trim();
    $("text").value = "";
    sendMessage({ image: { caption } });
  });
  $("other").addEventListener("submit", (event) => {
    event.preventDefault();
    const waId = digits($("other-phone").value);
    if (waId.length < 8 || waId.length > 15) {
      showError("Número inválido: use o formato internacional, ex. +55 11 91234-5678.");
      return;
    }
    const known = page.config.customers.find((c) => c.wa_id === waId);
    openChat(known || { wa_id: waId, name: formatPhone(waId), phone: `+${waId}`, city: "", state: "" });
  });
  $("fail").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/api/failures", { method: "POST", body: { preset: $("fail-preset").value } });
    } catch (error) {
      showError(error.message);
    }
    refresh();
  });
  document.addEventListener("visibilitychange", refresh);
  setInterval(refresh, POLL_MS);
}

boot();
