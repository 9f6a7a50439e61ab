package android.content.pm;

public class InstallSourceInfo {

    public String getInstallingPackageName() {
        return "com.android.vending";
    }

    public String getInitiatingPackageName() {
        return null;
    }
}
