package android.os;

/** A real phone (not an emulator: the plugin's emulator heuristics all read false). */
public class Build {

    public static final String BRAND = "google";
    public static final String DEVICE = "husky";
    public static final String FINGERPRINT = "google/husky/husky:14/UQ1A.240105.004/11206848:user/release-keys";
    public static final String HARDWARE = "husky";
    public static final String MODEL = "Pixel 8 Pro";
    public static final String MANUFACTURER = "Google";
    public static final String PRODUCT = "husky";

    public static class VERSION {

        public static final int SDK_INT = 34;
        public static final String RELEASE = "14";
    }

    public static class VERSION_CODES {

        public static final int M = 23;
        public static final int N = 24;
        public static final int O = 26;
        public static final int P = 28;
        public static final int Q = 29;
        public static final int R = 30;
        public static final int S = 31;
        public static final int TIRAMISU = 33;
        public static final int UPSIDE_DOWN_CAKE = 34;
    }
}
