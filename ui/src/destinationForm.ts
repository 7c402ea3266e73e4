// The add/edit destination form: which fields a kind needs, and the form
// turned into what the engine's store takes. The engine checks everything
// again; this only catches what can be said before asking it.
import { DESTINATION_SCHEMES } from "./bindings";
import type {
  DestinationEdit,
  DestinationKind,
  DestinationOptions,
  DestinationSummary,
  NewDestination,
  Preset,
} from "./bindings";

export interface DestinationForm {
  name: string;
  kind: DestinationKind;
  url: string;
  key: string;
  tokenUrl: string;
  statusUrl: string;
  room: string;
  apiKey: string;
  /** Options the form has no field for (set with the CLI): kept as they are. */
  otherOptions: DestinationOptions;
}

export const KINDS: { kind: DestinationKind; label: string; placeholder: string }[] = [
  { kind: "rtmp", label: "RTMP / RTMPS", placeholder: "rtmps://live.example.com/app" },
  { kind: "livekit", label: "LiveKit", placeholder: "wss://your-project.livekit.cloud" },
  { kind: "whip", label: "WHIP", placeholder: "https://whip.example.com/whip/endpoint" },
  { kind: "file", label: "Local recording", placeholder: "file:/home/you/Videos/show.flv" },
];

// The engine's scheme table, from the generated bindings.
const prefixes = (kind: DestinationKind): string[] =>
  DESTINATION_SCHEMES.filter((s) => s.kind === kind).map((s) => s.prefix);

/** What the key field asks for, by kind. */
export function keyLabel(form: Pick<DestinationForm, "kind" | "tokenUrl" | "apiKey">): string | null {
  switch (form.kind) {
    case "rtmp":
      return "Stream key";
    case "livekit":
      if (form.apiKey.trim()) return "API secret";
      return form.tokenUrl.trim() ? "Bearer token for the token URL" : "Access token";
    case "whip":
      return "Bearer token";
    case "file":
      return null;
  }
}

export function emptyForm(): DestinationForm {
  return { name: "", kind: "rtmp", url: "", key: "", tokenUrl: "", statusUrl: "", room: "", apiKey: "", otherOptions: {} };
}

export function formFor(d: DestinationSummary): DestinationForm {
  return {
    ...emptyForm(),
    name: d.name,
    kind: d.kind,
    url: d.url,
    tokenUrl: d.token_url ?? "",
    statusUrl: d.status_url ?? "",
    room: d.options?.room ?? "",
    apiKey: d.options?.api_key ?? "",
    otherOptions: withoutFormFields(d.options ?? {}),
  };
}

const optional = (text: string) => (text.trim() ? text.trim() : null);

// What is left of a destination's options once the form's own fields are taken out.
function withoutFormFields(options: DestinationOptions): DestinationOptions {
  const { room: _room, api_key: _apiKey, ...rest } = options;
  return Object.fromEntries(Object.entries(rest).filter((entry) => entry[1] != null));
}

function options(form: DestinationForm): DestinationOptions {
  const out: DestinationOptions = { ...form.otherOptions };
  if (form.kind === "livekit") {
    if (form.room.trim()) out.room = form.room.trim();
    if (form.apiKey.trim()) out.api_key = form.apiKey.trim();
  }
  return out;
}

/** A sentence saying what to fix, or null when the form can be sent. */
export function formProblem(form: DestinationForm, adding: boolean): string | null {
  if (!form.name.trim()) return "Give the destination a name.";
  const url = form.url.trim().toLowerCase();
  if (!url) return "Paste the server URL from your platform.";
  if (!prefixes(form.kind).some((s) => url.startsWith(s))) {
    return `A ${KINDS.find((k) => k.kind === form.kind)?.label} URL starts with ${prefixes(form.kind).join(" or ")}.`;
  }
  if (form.kind === "livekit" && form.apiKey.trim() && !form.room.trim()) {
    return "Minting tokens with an API key needs a room.";
  }
  if (adding && form.kind !== "file" && !form.key.trim() && !hasPastedKey(url)) {
    return `Paste the ${keyLabel(form)?.toLowerCase()}.`;
  }
  return null;
}

// rtmp://host/app/KEY: the engine splits the key off into the keychain
// (rtmp::url::split_pasted_key): a second path segment, empty ones aside.
export function hasPastedKey(url: string): boolean {
  const scheme = schemeOf(url);
  if (!scheme?.key_in_path) return false;
  const path = url.slice(scheme.prefix.length).split("?")[0].replace(/^[^/]*/, "");
  return path.split("/").filter(Boolean).length >= 2;
}

export function toNew(form: DestinationForm): { destination: NewDestination; key: string | null } {
  return {
    destination: {
      name: form.name.trim(),
      url: form.url.trim(),
      token_url: form.kind === "livekit" ? optional(form.tokenUrl) : null,
      status_url: optional(form.statusUrl),
      options: options(form),
    },
    key: form.kind === "file" ? null : optional(form.key),
  };
}

export function toEdit(form: DestinationForm): DestinationEdit {
  return {
    url: form.url.trim(),
    token_url: form.kind === "livekit" ? optional(form.tokenUrl) : null,
    status_url: optional(form.statusUrl),
    options: options(form),
  };
}

/** What a preset leaves to the creator: a server's host, or (for "custom")
 *  the whole URL; null when its ingest is fixed. */
export function presetBlank(preset: Preset): { label: string; example: string } | null {
  const ingest = preset.ingests[0];
  if (ingest?.url.includes("{url}")) return { label: "Server URL", example: ingest.example ?? "" };
  if (ingest?.url.includes("{host}")) return { label: "Server host", example: ingest.example ?? "" };
  return null;
}

// The engine's scheme table's row for a URL.
function schemeOf(url: string) {
  const lower = url.trim().toLowerCase();
  return DESTINATION_SCHEMES.find((s) => lower.startsWith(s.prefix));
}

/** The kind a URL is, by the engine's scheme table. */
export function kindOfUrl(url: string): DestinationKind | null {
  return schemeOf(url)?.kind ?? null;
}
