/*
 * WindowedCount: the Kafka Streams reference peer for kafkademo's own
 * `stream count` command. The crash test and the benchmark of that command run
 * this application on the same input and compare: its output says what a
 * windowed count should produce, and how fast Kafka Streams produces it.
 *
 * Counts the records of each key in event-time windows (the record timestamp,
 * Kafka Streams' default extractor), tumbling or hopping, and writes each count
 * to the output topic, keyed "<key>@<window start ms>", as the JSON value
 *   {"key":"<key>","window_start":<ms>,"window_end":<ms>,"count":<n>}
 * With --emit updates every update of a count is written (the record cache is
 * off); with --emit final only the last count of each window, once the window
 * has closed (window end + grace passed in stream time).
 *
 * Usage (build and run through scripts/kstreams.sh):
 *   --bootstrap HOST:PORT --input TOPIC --output TOPIC --application-id ID
 *   --window 10s [--hop 5s] [--grace 2s] [--emit updates|final]
 *   [--guarantee at_least_once|exactly_once_v2] [--state-dir DIR]
 *   [--commit-interval 100ms] [--time-field NAME] [--session-timeout 6s]
 *   [--cache-bytes N] (record cache; 0, the default, writes every update)
 * Durations are Ns or Nms. Prints one line "RUNNING" on stdout when the
 * application first reaches the RUNNING state; logs (warnings only) go to
 * stderr, with a line "TASKS [0, 1]" (the input partitions of its active
 * tasks) each time it reaches RUNNING, after every rebalance. SIGTERM
 * closes it cleanly (exit status 143, the JVM's for SIGTERM); it exits with
 * 1 if Kafka Streams fails, 2 for a bad command line.
 */
package kafkademo;

import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.WindowStore;

public final class WindowedCount {
  private static final String USAGE =
      "usage: WindowedCount --bootstrap HOST:PORT --input TOPIC --output TOPIC --application-id ID\n"
          + "         --window DURATION [--hop DURATION] [--grace DURATION] [--emit updates|final]\n"
          + "         [--guarantee at_least_once|exactly_once_v2] [--state-dir DIR]\n"
          + "         [--commit-interval DURATION] [--time-field NAME] [--session-timeout DURATION]\n"
          + "         [--cache-bytes N]\n"
          + "       DURATION is Ns or Nms (e.g. 10s, 500ms)";

  /** How long close() may take on SIGTERM or after a failure. */
  private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);

  private WindowedCount() {}

  /** A bad command line: message for stderr, exit status 2. */
  private static final class UsageException extends Exception {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
      super(message);
    }
  }

  /** The parsed command line. */
  private static final class Options {
    String bootstrap;
    String input;
    String output;
    String applicationId;
    Duration window;
    Duration hop;
    Duration grace = Duration.ZERO;
    boolean emitFinal;
    String guarantee = StreamsConfig.AT_LEAST_ONCE;
    String stateDir;
    String timeField;
    Duration sessionTimeout;
    long cacheBytes;
    Duration commitInterval = Duration.ofMillis(100);
  }

  public static void main(String[] args) {
    Options opts;
    try {
      opts = parse(args);
    } catch (UsageException e) {
      System.err.println("WindowedCount: " + e.getMessage());
      System.err.println(USAGE);
      System.exit(2);
      return;
    }

    KafkaStreams streams = new KafkaStreams(topology(opts).build(), config(opts));
    AtomicBoolean announced = new AtomicBoolean();
    AtomicBoolean terminating = new AtomicBoolean();
    CountDownLatch stopped = new CountDownLatch(1);

    streams.setStateListener(
        (next, previous) -> {
          if (next == KafkaStreams.State.RUNNING && announced.compareAndSet(false, true)) {
            System.out.println("RUNNING");
            System.out.flush();
          }
          // The input partitions of the active tasks, after each rebalance
          // (the crash experiment's pauses wait for a takeover on it).
          if (next == KafkaStreams.State.RUNNING) {
            System.err.println("TASKS " + activePartitions(streams));
          }
          if (next == KafkaStreams.State.ERROR || next == KafkaStreams.State.NOT_RUNNING) {
            stopped.countDown();
          }
        });
    // A failing stream thread stops the whole application (and so this
    // process, with status 1) instead of leaving it half running.
    // Restores, timed: one line per store partition on stderr, for the
    // benchmark's restore figures.
    streams.setGlobalStateRestoreListener(
        new org.apache.kafka.streams.processor.StateRestoreListener() {
          private final java.util.Map<org.apache.kafka.common.TopicPartition, Long> started =
              new java.util.concurrent.ConcurrentHashMap<>();

          @Override
          public void onRestoreStart(
              org.apache.kafka.common.TopicPartition tp, String store, long start, long end) {
            started.put(tp, System.nanoTime());
          }

          @Override
          public void onBatchRestored(
              org.apache.kafka.common.TopicPartition tp, String store, long end, long n) {}

          @Override
          public void onRestoreEnd(
              org.apache.kafka.common.TopicPartition tp, String store, long total) {
            Long t0 = started.remove(tp);
            long ms = t0 == null ? -1 : (System.nanoTime() - t0) / 1_000_000;
            System.err.println("RESTORED " + tp + " " + total + " records in " + ms + " ms");
          }
        });
    streams.setUncaughtExceptionHandler(
        e -> {
          System.err.println("WindowedCount: stream thread failed: " + e);
          return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });

    Thread hook =
        new Thread(
            () -> {
              terminating.set(true);
              streams.close(CLOSE_TIMEOUT);
              stopped.countDown();
            },
            "windowed-count-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);

    try {
      streams.start();
    } catch (RuntimeException e) {
      System.err.println("WindowedCount: cannot start: " + e);
      System.exit(1);
    }

    try {
      stopped.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (!terminating.get()) {
      // Kafka Streams stopped by itself (a fatal error): close and fail. The
      // shutdown hook closes again, which is a no-op.
      streams.close(CLOSE_TIMEOUT);
      System.err.println("WindowedCount: Kafka Streams stopped (state " + streams.state() + ")");
      System.exit(1);
    }
  }

  /** The partitions of this instance's active tasks, sorted: "[0, 1]". */
  static java.util.List<Integer> activePartitions(KafkaStreams streams) {
    java.util.List<Integer> partitions = new java.util.ArrayList<>();
    try {
      for (org.apache.kafka.streams.ThreadMetadata thread : streams.metadataForLocalThreads()) {
        for (org.apache.kafka.streams.TaskMetadata task : thread.activeTasks()) {
          partitions.add(task.taskId().partition());
        }
      }
    } catch (RuntimeException e) {
      // Not running or rebalancing any more: nothing to show.
    }
    java.util.Collections.sort(partitions);
    return partitions;
  }

  static StreamsBuilder topology(Options opts) {
    TimeWindows windows = TimeWindows.ofSizeAndGrace(opts.window, opts.grace);
    if (opts.hop != null) {
      windows = windows.advanceBy(opts.hop);
    }

    StreamsBuilder builder = new StreamsBuilder();
    KTable<Windowed<String>, Long> counts =
        builder.stream(opts.input, consumed(opts))
            .groupByKey(Grouped.with(Serdes.String(), Serdes.String()))
            .windowedBy(windows)
            .count(
                Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("count-store")
                    .withKeySerde(Serdes.String())
                    .withValueSerde(Serdes.Long()));
    if (opts.emitFinal) {
      counts = counts.suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()));
    }
    counts.toStream()
        .map(
            (windowed, count) -> {
              String key = windowed.key();
              long start = windowed.window().start();
              long end = windowed.window().end();
              String json =
                  "{\"key\":"
                      + jsonString(key)
                      + ",\"window_start\":"
                      + start
                      + ",\"window_end\":"
                      + end
                      + ",\"count\":"
                      + count
                      + "}";
              return KeyValue.pair(key + "@" + start, json);
            })
        .to(opts.output, Produced.with(Serdes.String(), Serdes.String()));
    return builder;
  }

  /**
   * String keys and values; with --time-field, event time is that numeric
   * field of the JSON value (milliseconds since the epoch), as kafkademo's
   * `stream count --time-field` reads it, so both count the same input alike.
   */
  static Consumed<String, String> consumed(Options opts) {
    Consumed<String, String> c = Consumed.with(Serdes.String(), Serdes.String());
    if (opts.timeField == null) {
      return c;
    }
    java.util.regex.Pattern field =
        java.util.regex.Pattern.compile(
            "\"" + java.util.regex.Pattern.quote(opts.timeField) + "\"\\s*:\\s*(\\d+)");
    return c.withTimestampExtractor(
        (record, partitionTime) -> {
          Object v = record.value();
          if (v instanceof String s) {
            java.util.regex.Matcher m = field.matcher(s);
            if (m.find()) {
              return Long.parseLong(m.group(1));
            }
          }
          return -1L; // no time: Kafka Streams drops the record and says so
        });
  }

  static Properties config(Options opts) {
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, opts.applicationId);
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, opts.bootstrap);
    props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
    props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, opts.guarantee);
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, opts.commitInterval.toMillis());
    // No record cache: every update of a count goes downstream.
    props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, opts.cacheBytes);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    // No global stores here: this only silences the start-up warning that
    // asks for this (future default) setting. (Kafka Streams builds another
    // config of its own without it, which still warns once.)
    props.put(StreamsConfig.PROCESSING_EXCEPTION_HANDLER_GLOBAL_ENABLED_CONFIG, true);
    if (opts.stateDir != null) {
      props.put(StreamsConfig.STATE_DIR_CONFIG, opts.stateDir);
    }
    // A SIGKILLed instance holds its tasks until its session ends (45 s by
    // default): the crash test sets the same timeout for both processors.
    if (opts.sessionTimeout != null) {
      props.put(
          StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG),
          (int) opts.sessionTimeout.toMillis());
    }
    // Internal topics keep replication.factor -1 (the broker's default).
    return props;
  }

  static Options parse(String[] args) throws UsageException {
    Options o = new Options();
    for (int i = 0; i < args.length; i++) {
      String flag = args[i];
      if (flag.equals("-h") || flag.equals("--help")) {
        System.out.println(USAGE);
        System.exit(0);
      }
      if (i + 1 >= args.length) {
        throw new UsageException(flag + " needs a value");
      }
      String value = args[++i];
      switch (flag) {
        case "--bootstrap" -> o.bootstrap = value;
        case "--input" -> o.input = value;
        case "--output" -> o.output = value;
        case "--application-id" -> o.applicationId = value;
        case "--window" -> o.window = duration(flag, value);
        case "--hop" -> o.hop = duration(flag, value);
        case "--grace" -> o.grace = duration(flag, value);
        case "--emit" -> {
          switch (value) {
            case "updates" -> o.emitFinal = false;
            case "final" -> o.emitFinal = true;
            default -> throw new UsageException("--emit must be updates or final, not '" + value + "'");
          }
        }
        case "--guarantee" -> {
          switch (value) {
            case "at_least_once" -> o.guarantee = StreamsConfig.AT_LEAST_ONCE;
            case "exactly_once_v2" -> o.guarantee = StreamsConfig.EXACTLY_ONCE_V2;
            default ->
                throw new UsageException(
                    "--guarantee must be at_least_once or exactly_once_v2, not '" + value + "'");
          }
        }
        case "--state-dir" -> o.stateDir = value;
        case "--commit-interval" -> o.commitInterval = duration(flag, value);
        case "--time-field" -> o.timeField = value;
        case "--session-timeout" -> o.sessionTimeout = duration(flag, value);
        case "--cache-bytes" -> {
          try {
            o.cacheBytes = Long.parseLong(value);
          } catch (NumberFormatException e) {
            throw new UsageException("--cache-bytes needs a number of bytes, not '" + value + "'");
          }
        }
        default -> throw new UsageException("unknown option '" + flag + "'");
      }
    }
    require(o.bootstrap, "--bootstrap");
    require(o.input, "--input");
    require(o.output, "--output");
    require(o.applicationId, "--application-id");
    if (o.window == null) {
      throw new UsageException("--window is required");
    }
    if (o.window.isZero()) {
      throw new UsageException("--window must be more than 0");
    }
    if (o.hop != null && (o.hop.isZero() || o.hop.compareTo(o.window) > 0)) {
      throw new UsageException("--hop must be more than 0 and at most --window");
    }
    return o;
  }

  private static void require(String value, String flag) throws UsageException {
    if (value == null || value.isEmpty()) {
      throw new UsageException(flag + " is required");
    }
  }

  /** "10s" or "250ms" (a non-negative whole number of seconds or milliseconds). */
  static Duration duration(String flag, String text) throws UsageException {
    boolean millis = text.endsWith("ms");
    String digits;
    if (millis) {
      digits = text.substring(0, text.length() - 2);
    } else if (text.endsWith("s")) {
      digits = text.substring(0, text.length() - 1);
    } else {
      throw new UsageException(flag + " takes a duration such as 10s or 500ms, not '" + text + "'");
    }
    if (digits.isEmpty() || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
      throw new UsageException(flag + " takes a duration such as 10s or 500ms, not '" + text + "'");
    }
    try {
      long n = Long.parseLong(digits);
      return millis ? Duration.ofMillis(n) : Duration.ofMillis(Math.multiplyExact(n, 1000L));
    } catch (NumberFormatException | ArithmeticException e) {
      throw new UsageException(flag + " is out of range: '" + text + "'");
    }
  }

  /** A JSON string literal for s (RFC 8259 escaping). */
  static String jsonString(String s) {
    StringBuilder b = new StringBuilder(s.length() + 2);
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\b' -> b.append("\\b");
        case '\f' -> b.append("\\f");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          // Control characters, and the separators JavaScript cannot hold in
          // a string literal, as \\u escapes.
          if (c < 0x20 || c == '\u2028' || c == '\u2029') {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"').toString();
  }
}
