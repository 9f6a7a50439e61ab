package androidx.work;

public final class OneTimeWorkRequest extends WorkRequest {

    private OneTimeWorkRequest(Builder b) {
        super(b);
    }

    public static final class Builder extends WorkRequest.Builder<Builder, OneTimeWorkRequest> {

        public Builder(Class<? extends ListenableWorker> workerClass) {
            super(workerClass);
        }

        Builder self() {
            return this;
        }

        public OneTimeWorkRequest build() {
            return new OneTimeWorkRequest(this);
        }
    }
}
