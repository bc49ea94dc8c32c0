/** NUT's upsmon notification types (NOTIFYTYPE), as admins know them. */
export type NutEventName =
  | 'ONLINE'
  | 'ONBATT'
  | 'LOWBATT'
  | 'FSD'
  | 'COMMOK'
  | 'COMMBAD'
  | 'NOCOMM'
  | 'REPLBATT'
  | 'SHUTDOWN'
  | 'CAL'
  | 'NOTCAL'
  | 'OFF'
  | 'NOTOFF'
  | 'BYPASS'
  | 'NOTBYPASS'
  | 'ALARM'
  | 'NOTALARM'
  | 'OVER'
  | 'NOTOVER'
  | 'TRIM'
  | 'NOTTRIM'
  | 'BOOST'
  | 'NOTBOOST';

export interface UpsEvent {
  /** Clock time (ms). */
  time: number;
  ups: string;
  event: NutEventName;
  /** ups.status at the time of the event ('' when unknown, e.g. COMMBAD before first contact). */
  status: string;
  /** NUT-style message, e.g. "UPS ippon on battery". */
  message: string;
}
