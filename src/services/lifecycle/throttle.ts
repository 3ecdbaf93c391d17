/**
 * Holds a reader to a byte rate: after each chunk it waits until the bytes read so far are no
 * more than the rate allows since the start. Zero means no limit. Shared by concurrent readers.
 */
export class Throttle {
  private readonly started: number;
  private bytes = 0;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  async take(bytes: number): Promise<void> {
    this.bytes += bytes;
    if (this.bytesPerSecond <= 0) return;
    const due = this.started + (this.bytes / this.bytesPerSecond) * 1000;
    const wait = due - this.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
