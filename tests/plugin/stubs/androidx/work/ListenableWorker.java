package androidx.work;

import android.content.Context;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;

public abstract class ListenableWorker {

    private final Context context;
    private final WorkerParameters params;
    volatile boolean stopped;

    public ListenableWorker(Context context, WorkerParameters params) {
        this.context = context;
        this.params = params;
    }

    public final Context getApplicationContext() {
        return context;
    }

    public final Data getInputData() {
        return params.input;
    }

    public final int getRunAttemptCount() {
        return params.runAttemptCount;
    }

    public final boolean isStopped() {
        return stopped;
    }

    public final Future<Void> setProgressAsync(Data data) {
        params.progress.accept(data);
        return CompletableFuture.completedFuture(null);
    }

    public abstract static class Result {

        final Data output;

        Result(Data output) {
            this.output = output;
        }

        public static Result success() {
            return new Success(Data.EMPTY);
        }

        public static Result success(Data output) {
            return new Success(output);
        }

        public static Result failure() {
            return new Failure(Data.EMPTY);
        }

        public static Result failure(Data output) {
            return new Failure(output);
        }

        public static Result retry() {
            return new Retry();
        }

        static final class Success extends Result {

            Success(Data d) {
                super(d);
            }
        }

        static final class Failure extends Result {

            Failure(Data d) {
                super(d);
            }
        }

        static final class Retry extends Result {

            Retry() {
                super(Data.EMPTY);
            }
        }
    }
}
