/**
 * Verb events → the {@link Tracker}: export's per-file events.
 *
 * @module
 */
import type { ExportEvent } from "../../engine/platform_files.ts";
import type { Tracker } from "./tracker.ts";

/** An ExportEvent handler: one file task per output file (and one for `push`); notes go to `warn` as `ferry: note:`. */
export function exportEventsTo(tracker: Tracker, warn?: (text: string) => void): (event: ExportEvent) => void {
  return (event) => {
    if (event.type === "note") return warn?.(`ferry: note: ${event.message}`);
    const file = tracker.file(event.label);
    if (event.type === "queued") file.queue(event.total, event.path);
    else if (event.type === "start") file.start(event.total, event.path);
    else if (event.type === "progress") file.progress(event.bytes, event.total);
    else file.end(event.size, event.path);
  };
}
