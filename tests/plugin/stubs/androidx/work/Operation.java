package androidx.work;

public final class Operation {}
