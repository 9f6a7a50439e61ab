package androidx.work;

import java.util.function.Consumer;

public final class WorkerParameters {

    final Data input;
    final int runAttemptCount;
    final Consumer<Data> progress;

    WorkerParameters(Data input, int runAttemptCount, Consumer<Data> progress) {
        this.input = input;
        this.runAttemptCount = runAttemptCount;
        this.progress = progress;
    }
}
