/** What the UPS driver publishes on every poll; the monitor and the NUT server consume it. */
export interface PollSample {
  /** Clock time of the poll (ms). */
  time: number;
  /** False when the device did not give a valid Q1 reply this poll. */
  ok: boolean;
  /** NUT `ups.status` of the last good poll, e.g. `OL`, `OB LB`, `ALARM OL BYPASS`; '' before any. */
  status: string;
  /** True once failed polls have made the data stale (NUT: the 5th consecutive failure). */
  stale: boolean;
  /** All variables with NUT names and NUT formatting, as `upsc` would print them. */
  variables: Readonly<Record<string, string>>;
  /** Why this poll failed (timeout, garbled reply…), when ok is false. */
  error?: string;
}
